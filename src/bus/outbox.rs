//! Publishing operational events from the outbox: an endpoint actor writes
//! each one with the outcome that raised it; here it is published with its
//! outbox row removed in the same commit. A failed commit tries again later,
//! and entries left at a restart are published at start, so an operational
//! event is never lost while the outcome behind it is kept.

use std::time::Duration;

use actix::prelude::*;

use super::messages::Publish;
use super::{Bus, BusError};
use crate::store::Changes;
use crate::store::records::OutboxEntry;

/// How long after a failed commit an operational event is published again.
pub const ANNOUNCE_RETRY: Duration = Duration::from_millis(500);

impl Bus {
    /// Publish `entry` (and clear its row in the same commit); on a store
    /// failure, try again after [`ANNOUNCE_RETRY`].
    pub(super) fn announce(&mut self, entry: OutboxEntry, ctx: &mut Context<Self>) {
        let id = entry.id().to_string();
        // The application of the endpoint it is about (the default one if
        // that endpoint is gone): the event is recorded there.
        let app = self
            .endpoints
            .get(&entry.about)
            .map_or_else(crate::model::app::default_id, |r| r.record.app.clone());
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.publish(
            Publish {
                events: vec![entry.event.clone()],
                raw: Vec::new(),
                about: Some(entry.about.clone()),
                spans: Vec::new(),
                app,
                coming: None,
            },
            Some(id.clone()),
            answer,
        );
        let publish = answered.into_actor(self);
        ctx.spawn(publish.map(move |res, act, ctx| match res.unwrap_or(Err(BusError::Unavailable)) {
            Ok(_) => {}
            Err(e @ (BusError::Store(_) | BusError::Unavailable)) => {
                tracing::warn!(event = %id, event_type = %entry.event.event_type, error = %e,
                    "Cannot publish an operational event yet; trying again.");
                ctx.run_later(ANNOUNCE_RETRY, move |act, ctx| act.announce(entry, ctx));
            }
            // Already published (its id exists), or never publishable: keeping
            // the row would only repeat this, so clear it and say so.
            Err(e) => {
                if !matches!(e, BusError::Conflict(_)) {
                    tracing::error!(event = %id, event_type = %entry.event.event_type, error = %e,
                        "Dropping an operational event that cannot be published.");
                }
                let mut changes = Changes::new();
                changes.forget_outbox(&id);
                let cleared = act.store().commit(changes);
                ctx.spawn(cleared.into_actor(act).map(|res, _, _| {
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "Cannot clear an outbox entry; it is retried at the next start.");
                    }
                }));
            }
        }));
    }
}
