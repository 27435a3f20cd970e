//! Carrying out what an attempt (or a step before one) decided: the outcome
//! written in one atomic batch, the stats, the queue, telemetry, the host's
//! outcome stream, operational events and auto-disable. The decision itself
//! is [`verdict`](super::verdict)'s; this file only acts on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::actor::EndpointActor;
use super::messages::ToBus;
use super::queue::Item;
use super::verdict;
use crate::endpoint::spec::Status;
use crate::ids::now_ms;
use crate::store::Changes;
use crate::store::records::{
    AttemptRecord, DeadLetter, DeliveryRecord, DeliveryStatus, OutboxEntry,
};
use crate::telemetry::{DeliveryFinished, DeliveryOutcome};

/// Longest an outcome waits in the actor's buffer before it is handed to
/// the committer (a crash in between re-sends it, as one before any write would).
const OUTCOME_FLUSH: Duration = Duration::from_millis(2);

/// Outcomes that make the buffer go at once.
const OUTCOME_BATCH: usize = 64;

/// How a delivery ends up after one step.
pub(super) struct Settle {
    pub(super) status: DeliveryStatus,
    pub(super) outcome: DeliveryOutcome,
    pub(super) reason: Option<String>,
    pub(super) retry_at: Option<Instant>,
    pub(super) attempt: Option<AttemptRecord>,
}

impl EndpointActor {
    /// Write the outcome (one atomic, unsynced batch, on the committer
    /// thread), update stats and telemetry, return the item to the queue if
    /// it will be retried, pump.
    pub(super) fn settle(&mut self, item: Item, s: Settle, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut changes = Changes::new();
        if let Some(a) = &s.attempt {
            changes.attempt(&item.delivery_id, a);
            self.stats.attempt(
                a.attempt,
                a.latency_ms,
                s.status == DeliveryStatus::Delivered,
                now_ms(),
            );
        }
        let next_attempt_at = s
            .retry_at
            .map(|at| now_ms() + at.saturating_duration_since(now).as_millis() as u64);
        // Built from what the actor holds: no read on this thread.
        changes.delivery(&DeliveryRecord {
            id: item.delivery_id.clone(),
            event_id: item.event_id.clone(),
            endpoint_id: self.record.id.clone(),
            app: self.record.app.clone(),
            status: s.status,
            attempts: item.attempts,
            created_at: item.created_ms,
            updated_at: now_ms(),
            next_attempt_at,
            last_delay_ms: item.last_delay.map(|l| l.as_millis() as u64),
            last_error: s.reason.clone(),
            ticket: item.ticket,
            budget_start: item.budget_start,
            queued_at: item.queued_ms,
            test: false,
        });
        match s.status {
            DeliveryStatus::Delivered => self.stats.delivered(),
            DeliveryStatus::Failed => self.stats.failed(),
            DeliveryStatus::Dead => {
                self.stats.dead();
                self.dead_letters += 1;
            }
            DeliveryStatus::Filtered => self.stats.filtered(),
            DeliveryStatus::Pending => {}
        }
        let dequeued = s.status != DeliveryStatus::Failed;
        if dequeued {
            changes.dequeue(&self.record.id, item.ticket);
            self.depth.dequeued();
        }
        if s.status == DeliveryStatus::Dead {
            let dl = DeadLetter {
                delivery_id: item.delivery_id.clone(),
                endpoint_id: self.record.id.clone(),
                app: self.record.app.clone(),
                event_id: item.event_id.clone(),
                reason: s.reason.clone().unwrap_or_default(),
                attempts: item.attempts,
                dead_at: now_ms(),
            };
            changes.dead_letter(&dl);
        }
        // Operational events about operational deliveries would feed on themselves.
        let operational_delivery = item
            .event
            .as_ref()
            .is_some_and(|e| crate::event::is_reserved_type(&e.event_type));
        let fate = match s.status {
            DeliveryStatus::Dead => Some(verdict::Fate::Dead {
                reason: s.reason.clone().unwrap_or_default(),
            }),
            DeliveryStatus::Delivered => Some(verdict::Fate::Delivered),
            _ => None,
        };
        let announced = fate.as_ref().and_then(|f| {
            verdict::announcement(f, item.attempts, item.budget_start, operational_delivery)
        });
        if let Some(event_type) = announced {
            let mut data =
                serde_json::json!({"delivery_id": item.delivery_id, "event_id": item.event_id});
            if s.status == DeliveryStatus::Dead {
                data["reason"] = serde_json::json!(s.reason);
            } else {
                data["attempts"] = serde_json::json!(item.attempts);
            }
            self.operational(event_type, data);
        }
        // Operational events this outcome (or the attempt before it) raised
        // go in the outcome's own batch: kept exactly when the outcome is.
        let outbox = std::mem::take(&mut self.outbox);
        self.write_outcome(changes, dequeued.then_some(item.ticket), outbox, ctx);
        let end_to_end = (s.outcome == DeliveryOutcome::Success)
            .then(|| {
                item.event
                    .as_ref()
                    .map(|e| Duration::from_millis(now_ms().saturating_sub(e.accepted_ms)))
            })
            .flatten();
        DeliveryFinished {
            endpoint: self.series(),
            outcome: s.outcome,
            end_to_end,
            delivery_id: &item.delivery_id,
            attempt: item.attempts,
            reason: s.reason.as_deref(),
            next_attempt_at,
        }
        .emit();
        self.tell_host(&item, &s, next_attempt_at);
        self.queue.finish(item, s.retry_at);
        self.gauges();
        self.pump(ctx);
    }

    /// Hand the outcome to the host's subscribers; never waits (broadcast).
    fn tell_host(&self, item: &Item, s: &Settle, next_attempt_at: Option<u64>) {
        use crate::outcomes::{Outcome, OutcomeKind};
        let Some(tx) = &self.outcomes else { return };
        // Nobody listening is the common case: skip building the value.
        if tx.receiver_count() == 0 {
            return;
        }
        let kind = match s.status {
            DeliveryStatus::Delivered => OutcomeKind::Delivered,
            DeliveryStatus::Failed => OutcomeKind::RetryScheduled,
            DeliveryStatus::Dead => OutcomeKind::DeadLettered,
            DeliveryStatus::Filtered => OutcomeKind::Filtered,
            DeliveryStatus::Pending => return,
        };
        let _ = tx.send(Outcome {
            kind,
            endpoint: self.record.spec.name.clone(),
            endpoint_id: self.record.id.clone(),
            delivery_id: item.delivery_id.clone(),
            event_id: item.event_id.clone(),
            event_type: item.event.as_ref().map(|e| e.event_type.clone()),
            attempt: item.attempts,
            status: s.attempt.as_ref().and_then(|a| a.status_code),
            error: s.reason.clone(),
            latency: s
                .attempt
                .as_ref()
                .map(|a| Duration::from_secs_f64(a.latency_ms / 1000.0)),
            next_attempt_at,
        });
    }
}

impl EndpointActor {
    /// Buffer an outcome's rows for the committer thread and carry on: the
    /// next attempt does not wait for the write. The buffer is handed over
    /// as one batch (with the totals, so they never count an outcome the
    /// store lacks) within [`OUTCOME_FLUSH`], or at [`OUTCOME_BATCH`]
    /// outcomes: one channel send and one wake-up of the committer per
    /// batch rather than per delivery. Until written, `ticket` (a finished
    /// delivery whose queue row is still in the store) is held in
    /// `unsettled`, so no page read or late offer takes it again. An
    /// outcome carrying operational events is awaited (they go to the bus
    /// once their outbox rows are written).
    fn write_outcome(
        &mut self,
        changes: Changes,
        ticket: Option<u128>,
        outbox: Vec<OutboxEntry>,
        ctx: &mut Context<Self>,
    ) {
        self.settle_written();
        self.outcome_buf.extend(changes);
        self.outcome_count += 1;
        if let Some(t) = ticket {
            self.unsettled.buffer(t);
        }
        if !outbox.is_empty() {
            return self.flush_awaited(outbox, ctx);
        }
        if self.outcome_count >= OUTCOME_BATCH {
            self.flush_outcomes();
        } else if !self.flush_armed {
            self.flush_armed = true;
            ctx.run_later(OUTCOME_FLUSH, |act, _| {
                act.flush_armed = false;
                act.flush_outcomes();
            });
        }
    }

    /// Empty the buffer into one batch, closed by the totals it accounts for.
    fn take_outcomes(&mut self) -> Changes {
        let mut changes = std::mem::take(&mut self.outcome_buf);
        self.outcome_count = 0;
        changes.totals(&self.record.id, self.stats.totals());
        changes
    }

    /// Hand the buffered outcomes to the committer, unawaited.
    pub(super) fn flush_outcomes(&mut self) {
        if self.outcome_count == 0 {
            return;
        }
        let changes = self.take_outcomes();
        let w = self.store.hand_over(changes);
        self.unsettled.handed_over(w);
    }

    /// Hand the buffer over with operational events and wait for the write.
    fn flush_awaited(&mut self, outbox: Vec<OutboxEntry>, ctx: &mut Context<Self>) {
        let mut changes = self.take_outcomes();
        for entry in &outbox {
            changes.outbox(entry);
        }
        let (w, written) = self.store.record_numbered(changes);
        self.unsettled.handed_over(w);
        self.writes_pending += 1;
        let done = written
            .into_actor(self)
            .map(move |result, act: &mut Self, ctx| {
                act.writes_pending -= 1;
                match result {
                    Ok(()) => act.announce(outbox),
                    // The queue rows stay, so the deliveries are attempted again
                    // after a restart; the events go with the next outcome.
                    Err(e) => {
                        tracing::error!(endpoint = %act.name(), error = %e,
                        "Cannot record outcomes; the deliveries will be retried after a restart.");
                        act.outbox.extend(outbox);
                    }
                }
                if act.draining.is_some() {
                    act.pump(ctx);
                }
            });
        ctx.spawn(done);
    }

    /// Raise an operational event about this endpoint (never delivered to
    /// it). It is written to the outbox with the next outcome, then handed
    /// to the bus, which publishes it and clears the entry in one commit.
    pub(super) fn operational(&mut self, event_type: &str, mut data: serde_json::Value) {
        if self.bus.is_none() {
            return;
        }
        data["endpoint_id"] = serde_json::json!(self.record.id);
        data["endpoint"] = serde_json::json!(self.record.spec.name);
        let mut event = crate::PublishRequest::new(event_type, data);
        // Chosen now, so a publish tried again is the same event.
        event.id = Some(crate::ids::event_id());
        self.outbox.push(OutboxEntry {
            event,
            about: self.record.id.clone(),
        });
    }

    /// Hand events whose outbox rows are written to the bus.
    fn announce(&self, entries: Vec<OutboxEntry>) {
        let Some(bus) = &self.bus else { return };
        for entry in entries {
            bus.do_send(ToBus::Announce(Box::new(entry)));
        }
    }

    /// Disable this endpoint: stop attempting now, persist through the bus, announce it.
    pub(super) fn disable(&mut self, reason: String) {
        if self.record.spec.status == Status::Disabled {
            return;
        }
        tracing::warn!(endpoint = %self.name(), %reason, "Endpoint disabled.");
        let mut record = (*self.record).clone();
        record.spec.status = Status::Disabled;
        let spec = record.spec.clone();
        // Effective at once here; the bus's Reconfigure (next version) confirms it.
        self.record = Arc::new(record);
        if let Some(bus) = &self.bus {
            bus.do_send(ToBus::Save {
                endpoint_id: self.record.id.clone(),
                spec: Box::new(spec),
            });
        }
        self.operational(
            "hookbus.endpoint.disabled",
            serde_json::json!({"reason": reason}),
        );
        self.gauges();
    }
}

pub(super) fn dead(reason: String, attempt: Option<AttemptRecord>) -> Settle {
    Settle {
        status: DeliveryStatus::Dead,
        outcome: DeliveryOutcome::Dead,
        reason: Some(reason),
        retry_at: None,
        attempt,
    }
}

pub(super) fn filtered() -> Settle {
    Settle {
        status: DeliveryStatus::Filtered,
        outcome: DeliveryOutcome::Filtered,
        reason: None,
        retry_at: None,
        attempt: None,
    }
}
