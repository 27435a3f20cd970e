//! What an endpoint actor does differently on a cluster node: it drives the
//! endpoint only while this node holds the endpoint's partition lease, and
//! it takes queue rows other nodes wrote (their publishes and replays) from
//! the node's cache.

use std::time::Instant;

use actix::prelude::*;

use super::actor::EndpointActor;
use super::messages::{Arrived, Drive};
use super::queue::Item;
use crate::ids::now_ms;

impl Handler<Drive> for EndpointActor {
    type Result = ();

    /// Start or stop driving. Either way what memory holds may be stale
    /// (another node drove the endpoint meanwhile, or will), so the queue is
    /// read again from the store. Stopping cancels the attempts in flight:
    /// the lease is fenced before another node can take it, and an attempt
    /// that outlived the fence would overlap the next owner's.
    fn handle(&mut self, msg: Drive, ctx: &mut Context<Self>) {
        if self.driving == msg.0 {
            return;
        }
        self.driving = msg.0;
        self.queue.forget_waiting();
        if self.driving {
            self.rescan_depth();
            tracing::info!(endpoint = self.name(), "This node now drives the endpoint.");
        } else {
            let cancelled = self.abandon_in_flight(ctx);
            tracing::info!(
                endpoint = self.name(),
                cancelled,
                "Another node drives the endpoint now."
            );
        }
        self.gauges();
        self.pump(ctx);
    }
}

impl Handler<Arrived> for EndpointActor {
    type Result = ();

    /// Rows another node wrote: read each delivery from the cache and take
    /// it like a local publish's (a row already paged in is not held twice).
    fn handle(&mut self, msg: Arrived, ctx: &mut Context<Self>) {
        if !self.driving {
            // Counted and paged in by whichever node drives it.
            return;
        }
        let (now, now_ms) = (Instant::now(), now_ms());
        let mut rows = msg.0;
        rows.sort_unstable_by_key(|(t, _)| *t);
        for (ticket, dlv_id) in rows {
            match self.store.delivery(&dlv_id) {
                Ok(Some(d)) if d.status.is_open() => {
                    let (item, due) = Item::from_record(d, ticket, now, now_ms);
                    self.accept(item, due);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(endpoint = self.name(), delivery = %dlv_id, error = %e,
                        "Cannot read a delivery another node queued; it is paged in later.");
                }
            }
        }
        self.gauges();
        self.pump(ctx);
    }
}
