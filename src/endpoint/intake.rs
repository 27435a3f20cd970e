//! How deliveries reach an endpoint: the bus's `Enqueue` after a commit,
//! pages read from the durable queue when memory has room, and the queue
//! rows that outlived their deliveries (dropped on the committer thread).

use std::time::Instant;

use actix::prelude::*;

use super::actor::EndpointActor;
use super::depth::Depth;
use super::messages::Enqueue;
use super::queue::Item;
use crate::ids::now_ms;
use crate::store::Changes;

impl EndpointActor {
    /// Count the queue rows in the store again (start, or a cluster node
    /// taking the endpoint over).
    pub(super) fn rescan_depth(&mut self) {
        self.depth = match self.store.queue_count(&self.record.id) {
            Ok((rows, last)) => Depth::scanned(rows, last),
            Err(e) => {
                tracing::error!(endpoint = self.name(), error = %e, "Cannot count the queue.");
                Depth::default()
            }
        };
    }

    /// Read the next page of the durable queue when there is room.
    pub(super) fn page_in(&mut self, ctx: &mut Context<Self>) {
        if !self.driving {
            return;
        }
        let Some((after, room)) = self.queue.wants_page() else {
            return;
        };
        if self.stale_pending {
            return;
        }
        let rows = match self.store.queue_page(&self.record.id, after, room) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(endpoint = self.name(), error = %e, "Cannot read the queue; will retry.");
                return;
            }
        };
        let exhausted = rows.len() < room;
        let last = rows.last().map(|(t, _)| *t);
        let now = Instant::now();
        let now_ms = now_ms();
        let mut items = Vec::with_capacity(rows.len());
        let mut stale = Changes::new();
        let mut stale_rows = 0;
        self.settle_written();
        // Finished here; the row's removal is on its way to the store.
        let rows: Vec<(u128, String)> = rows
            .into_iter()
            .filter(|(ticket, _)| !self.unsettled.holds(*ticket))
            .collect();
        let found = self
            .store
            .deliveries(rows.iter().map(|(_, id)| id.as_str()));
        for ((ticket, dlv_id), found) in rows.into_iter().zip(found) {
            match found {
                Ok(Some(d)) if d.status.is_open() => {
                    items.push(Item::from_record(d, ticket, now, now_ms));
                }
                // Finished (or vanished) deliveries whose queue row outlived them.
                Ok(_) => {
                    stale.dequeue(&self.record.id, ticket);
                    stale_rows += 1;
                }
                Err(e) => {
                    tracing::error!(endpoint = self.name(), delivery = %dlv_id, error = %e, "Cannot read delivery.")
                }
            }
        }
        self.queue.add_page(items, last, exhausted);
        if stale_rows > 0 {
            self.drop_stale_rows(stale, stale_rows, ctx);
        }
    }

    /// Forget the unsettled tickets whose writes the committer has written.
    pub(super) fn settle_written(&mut self) {
        let store = &self.store;
        self.unsettled.settle(|w| store.is_written(w));
    }

    /// Remove `rows` queue rows that outlived their deliveries, on the
    /// committer thread. No page read runs until it is written
    /// (`stale_pending`), so none counts them twice.
    fn drop_stale_rows(&mut self, stale: Changes, rows: usize, ctx: &mut Context<Self>) {
        let written = self.store.record(stale);
        self.writes_pending += 1;
        self.stale_pending = true;
        let done = written.into_actor(self).map(
            move |result, act: &mut Self, ctx| {
                act.writes_pending -= 1;
                act.stale_pending = false;
                match result {
                    Ok(()) => (0..rows).for_each(|_| act.depth.dequeued()),
                    // Harmless: the next page read finds the same rows and tries again.
                    Err(e) => {
                        tracing::warn!(endpoint = act.name(), error = %e, "Cannot drop finished queue rows.")
                    }
                }
                act.gauges();
                act.pump(ctx);
            },
        );
        ctx.spawn(done);
    }
}

impl Handler<Enqueue> for EndpointActor {
    type Result = ();

    /// Take newly committed deliveries (or leave them in the store if memory is full).
    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        self.dead_letters = self.dead_letters.saturating_sub(msg.replayed);
        for item in msg.items {
            self.accept(item, None);
        }
        self.gauges();
        self.pump(ctx);
    }
}

impl EndpointActor {
    /// Take one committed delivery (due now, or at `due` for a retry).
    pub(super) fn accept(&mut self, item: Item, due: Option<Instant>) {
        // Counted once per queue row, however the rest of this goes.
        self.depth.enqueued(item.ticket);
        // A page read that ran after the commit may have loaded (or even
        // finished) it already: only the queue row says it is still open.
        if self.queue.is_paged_range(item.ticket) {
            // Finished here, its queue row not yet removed in the store.
            self.settle_written();
            if self.unsettled.holds(item.ticket) {
                return;
            }
            if !self
                .store
                .is_queued(&self.record.id, item.ticket)
                .unwrap_or(true)
            {
                return;
            }
            // Paged in before this message came: keep the publish's event
            // (and span) rather than the one reloaded from the store.
            if let Some(event) = &item.event {
                if self.queue.attach_event(item.ticket, event) {
                    return;
                }
            }
        }
        self.queue.offer(item, due);
    }
}
