//! The bus on a cluster node: it follows what other nodes write (endpoints
//! created, changed or deleted elsewhere reach this node's subscription trie
//! within one stream round trip; their publishes reach the endpoint actors
//! that this node drives), and tells each endpoint actor whether this node
//! drives it as partition leases come and go.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::actor::Bus;
use crate::endpoint::messages::{Arrived, Drive};
use crate::store::{Applied, Owned};

impl Bus {
    /// Whether this node drives `endpoint_id` (always, embedded).
    pub(super) fn drives(&self, endpoint_id: &str) -> bool {
        self.owned.as_ref().is_none_or(|o| o.drives(endpoint_id))
    }

    /// Whether this node runs the retention sweep: always embedded; in a
    /// cluster only the holder of partition 0, so the nodes do not all scan
    /// and delete the same rows.
    pub(super) fn runs_chores(&self) -> bool {
        self.owned.as_ref().is_none_or(Owned::runs_chores)
    }

    /// In cluster mode, take the ownership now and follow its changes and
    /// the other nodes' writes.
    pub(super) fn follow_cluster(&mut self, ctx: &mut Context<Self>) {
        if let Some(rx) = self.w.store.cluster_ownership() {
            self.owned = Some(rx.borrow().clone());
            ctx.add_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.changed().await.ok()?;
                let owned = rx.borrow_and_update().clone();
                Some((owned, rx))
            }));
        }
        if let Some(rx) = self.w.store.take_cluster_feed() {
            ctx.add_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|a| (a, rx))
            }));
        }
    }

    /// An endpoint's row changed on another node: register it again from
    /// the cache (or unregister it if it is gone).
    fn endpoint_changed(&mut self, id: &str, ctx: &mut Context<Self>) {
        match self.w.store.endpoint(id) {
            Ok(Some(rec)) => {
                let transform = self.stored_transform(&rec);
                if let Some(old) = self.endpoints.get(id).map(|r| r.record.clone()) {
                    // A rename or new patterns: the old entries go first.
                    self.unindex(&old);
                }
                self.register(Arc::new(rec), transform, 0);
            }
            Ok(None) => {
                let Some((old, driving)) = self
                    .endpoints
                    .get(id)
                    .map(|r| (r.record.clone(), r.driving))
                else {
                    return;
                };
                if !driving {
                    return self.unregister(&old);
                }
                // The node that deleted it ended the queue it could see; the
                // outcomes this node's actor still had buffered (a retry's
                // new queue row) land after that, so end it again here once
                // they are written (its row is already gone: only the queue).
                let id = old.id.clone();
                let ended = self.end_endpoints(vec![old], false, ());
                ctx.spawn(ended.map(move |result, _, _| {
                    if let Err(e) = result {
                        tracing::error!(endpoint = %id, error = %e,
                            "Cannot end the queue of an endpoint another node deleted.");
                    }
                }));
            }
            Err(e) => {
                tracing::error!(endpoint = id, error = %e, "Cannot read an endpoint another node changed.")
            }
        }
    }
}

impl StreamHandler<Owned> for Bus {
    fn handle(&mut self, owned: Owned, _: &mut Context<Self>) {
        for (id, reg) in &mut self.endpoints {
            let drives = owned.drives(id);
            if drives != reg.driving {
                reg.driving = drives;
                reg.addr.do_send(Drive(drives));
            }
        }
        tracing::debug!(
            partitions = owned.mine.len(),
            live_nodes = owned.live_nodes,
            "Cluster ownership changed."
        );
        self.owned = Some(owned);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<Applied> for Bus {
    fn handle(&mut self, applied: Applied, ctx: &mut Context<Self>) {
        let mut ids = applied.endpoints;
        ids.sort_unstable();
        ids.dedup();
        for id in &ids {
            self.endpoint_changed(id, ctx);
        }
        if applied.directory {
            if let Some(d) = &self.w.directory {
                if let Err(e) = d.reload() {
                    tracing::error!(error = %e, "Cannot reload applications another node changed.");
                }
            }
        }
        let mut by_endpoint: HashMap<String, Vec<(u128, String)>> = HashMap::new();
        for (ep, ticket, dlv) in applied.queued {
            by_endpoint.entry(ep).or_default().push((ticket, dlv));
        }
        for (ep, rows) in by_endpoint {
            self.send_to(&ep, Arrived(rows));
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}
