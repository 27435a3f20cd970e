//! What the bus tells an endpoint besides new work: a new version of its
//! spec, purged dead letters, filtered-out counts, drain, stop, and a
//! snapshot of its live state.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::actor::EndpointActor;
use super::deliver;
use super::messages::{
    DeadLettersPurged, Drain, FilteredOut, GetSnapshot, Reconfigure, Snapshot, Stop,
};
use super::spec::{Ordering, Status};
use crate::store::Changes;

impl EndpointActor {
    /// Write the endpoint's totals (outside an outcome), on the committer thread.
    fn write_totals(&mut self, what: &'static str) {
        if self.outcome_count > 0 {
            // The buffered outcomes go with the totals (never ahead of them).
            return self.flush_outcomes();
        }
        let mut changes = Changes::new();
        changes.totals(&self.record.id, self.stats.totals());
        let written = self.store.record(changes);
        let endpoint = self.label_owned();
        // Queued already (in order with the outcomes); only the error is awaited.
        actix::spawn(async move {
            if let Err(e) = written.await {
                tracing::error!(%endpoint, error = %e, "Cannot write the endpoint's {what}.");
            }
        });
    }
}

impl Handler<DeadLettersPurged> for EndpointActor {
    type Result = ();

    /// Keep the dead-letter gauge true after a purge.
    fn handle(&mut self, msg: DeadLettersPurged, _: &mut Context<Self>) {
        self.dead_letters = self.dead_letters.saturating_sub(msg.0);
        self.gauges();
    }
}

impl Handler<Reconfigure> for EndpointActor {
    type Result = ();

    /// Switch to a new endpoint version; in-flight attempts finish with the old one.
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        if msg.record.version < self.record.version {
            return;
        }
        self.keys = deliver::signing_keys(&msg.record.spec);
        self.breaker
            .reconfigure(msg.record.spec.circuit_breaker.clone());
        self.queue
            .set_fifo(msg.record.spec.ordering == Ordering::Fifo);
        let renamed = msg.record.spec.name != self.record.spec.name;
        self.label = msg.record.label();
        let resumed =
            self.record.spec.status == Status::Disabled && msg.record.spec.status == Status::Active;
        self.record = msg.record;
        if resumed && self.stats.failing_since().is_some() {
            // Re-enabled by an operator: `disable_after` gets a whole new window.
            self.stats.set_failing_since(None);
            self.write_totals("reset disable_after clock");
        }
        if renamed {
            crate::telemetry::EndpointSeries {
                endpoint: self.name(),
            }
            .emit();
        }
        self.transform = msg.transform;
        self.gauges();
        self.pump(ctx);
    }
}

/// How long filtered-out counts wait before they are written (one write per
/// burst of filtered events, not one per event).
const FILTERED_FLUSH: Duration = Duration::from_secs(1);

impl Handler<FilteredOut> for EndpointActor {
    type Result = ();

    /// Count them; persist the totals shortly (a crash loses at most the
    /// last second's count, never a delivery).
    fn handle(&mut self, msg: FilteredOut, ctx: &mut Context<Self>) {
        self.stats.filtered_out(msg.0);
        if self.filtered_flush {
            return;
        }
        self.filtered_flush = true;
        ctx.run_later(FILTERED_FLUSH, |act, _| {
            if act.filtered_flush {
                act.filtered_flush = false;
                act.write_filtered_out();
            }
        });
    }
}

impl EndpointActor {
    fn write_filtered_out(&mut self) {
        self.write_totals("filtered-out count");
    }
}

impl Handler<Drain> for EndpointActor {
    type Result = ResponseFuture<()>;

    /// Stop starting attempts; answer once none is in flight and every
    /// outcome handed to the committer is written.
    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.draining.get_or_insert_with(Vec::new).push(tx);
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        self.pump(ctx);
        let store = self.store.clone();
        Box::pin(async move {
            let _ = rx.await;
            // Queued after the last outcome (nothing is in flight now).
            let _ = store.flush().await;
        })
    }
}

impl Handler<Stop> for EndpointActor {
    type Result = ();

    /// Stop; pending rows stay durable (and a filtered-out count not yet written is written now).
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.flush_outcomes();
        if self.filtered_flush {
            self.filtered_flush = false;
            self.write_filtered_out();
        }
        ctx.stop();
    }
}

impl Handler<GetSnapshot> for EndpointActor {
    type Result = MessageResult<GetSnapshot>;

    /// Report live state.
    fn handle(&mut self, _: GetSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Snapshot {
            queue_depth: self.depth.get(),
            in_flight: self.queue.in_flight(),
            breaker: self.breaker.state(Instant::now()),
            dead_letters: self.dead_letters,
            stats: self.stats.view(),
        })
    }
}
