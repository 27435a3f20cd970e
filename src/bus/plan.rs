//! Planning a publish: match each event against the application's
//! subscriptions and filters, and build its batch (the event row, one
//! pending delivery row per matched endpoint) with the items each endpoint
//! actor will be handed once the batch is durable.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;

use super::actor::Bus;
use super::messages::{PublishReceipt, ReceiptDelivery};
use crate::endpoint::EndpointActor;
use crate::endpoint::queue::{EventInfo, Item};
use crate::endpoint::spec::Status;
use crate::event::{Event, RawPayload};
use crate::ids::{self, now_ms};
use crate::model::app::DEFAULT_APP_ID;
use crate::model::filter::Subject;
use crate::store::Changes;
use crate::store::records::{DeliveryRecord, DeliveryStatus};

/// An event's W3C `traceparent` and its publish span, carried to its deliveries.
type Trace = (Option<String>, Option<tracing::Span>);

/// An accepted event to plan: its trace, and its payload's text when the
/// publisher's JSON was kept as text.
pub(super) type ToPlan = (Event, Trace, Option<RawPayload>);

/// One endpoint's part of a planned publish.
pub(super) struct Target {
    pub(super) addr: Addr<EndpointActor>,
    pub(super) items: Vec<Item>,
}

/// A planned publish: the batch, the receipts, each endpoint's new items,
/// and how many matched events each endpoint's filter turned away (by
/// label, with its actor).
pub(super) struct Planned {
    pub(super) changes: Changes,
    pub(super) receipts: Vec<PublishReceipt>,
    pub(super) targets: HashMap<String, Target>,
    pub(super) filtered: Vec<(String, Addr<EndpointActor>, u64)>,
}

impl Bus {
    /// Build the batch for `events` (each with its traceparent and publish
    /// span); returns receipts and per-endpoint items.
    pub(super) fn plan(&mut self, events: Vec<ToPlan>, about: Option<&str>, app: &str) -> Planned {
        let now = now_ms();
        let mut changes = Changes::new();
        let mut receipts = Vec::with_capacity(events.len());
        let mut fanout: HashMap<String, Target> = HashMap::new();
        // Operational events reach the operator (the default application)
        // and the application of the endpoint they are about.
        let apps: Vec<&str> = if about.is_some() && app != DEFAULT_APP_ID {
            vec![DEFAULT_APP_ID, app]
        } else {
            vec![app]
        };
        let mut filtered: HashMap<String, u64> = HashMap::new();
        for (mut event, (traceparent, span), raw) in events {
            if let Some(s) = &span {
                s.record("event_id", event.id.as_str());
            }
            // A payload kept as text gets its tree when a filter first reads it.
            let mut tree_missing = raw.is_some();
            let mut targets: Vec<(&str, &str)> = Vec::new();
            for a in &apps {
                let Some(subs) = self.subs.get(*a) else {
                    continue;
                };
                for id in subs.matching(&event.event_type) {
                    if about == Some(id) {
                        continue;
                    }
                    let Some(reg) = self.endpoints.get(id) else {
                        continue;
                    };
                    if reg.record.spec.status == Status::Disabled {
                        continue;
                    }
                    if let Some(f) = &reg.filter {
                        if let (true, Some(r)) = (tree_missing, &raw) {
                            r.fill(&mut event.data, &mut event.metadata);
                            tree_missing = false;
                        }
                        // Filtered out: no delivery at all, only counted.
                        if !f.matches(&Subject::of(&event)) {
                            *filtered.entry(id.to_string()).or_default() += 1;
                            continue;
                        }
                    }
                    targets.push((id, reg.record.app.as_str()));
                }
            }
            targets.sort_unstable();
            if let Some(s) = &span {
                s.record("matched", targets.len());
            }
            // Encoded once: the stored row and every delivery reuse these bytes.
            let body = match &raw {
                Some(r) => event.body_with(r),
                None => event.body(),
            };
            let info = Arc::new(
                EventInfo::new(
                    event.id.clone(),
                    event.event_type.clone(),
                    body.clone(),
                    now,
                )
                .with_trace(traceparent.clone(), span),
            );
            let mut refs = Vec::with_capacity(targets.len());
            for (ep, ep_app) in targets {
                let ticket = u128::from(ids::next_ulid());
                let id = ids::delivery_id();
                let rec = DeliveryRecord {
                    id: id.clone(),
                    event_id: event.id.clone(),
                    endpoint_id: ep.to_string(),
                    app: ep_app.to_string(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    created_at: now,
                    updated_at: now,
                    next_attempt_at: None,
                    last_delay_ms: None,
                    last_error: None,
                    ticket,
                    budget_start: 0,
                    queued_at: now,
                    test: false,
                };
                changes.enqueue(&rec);
                let item = Item {
                    delivery_id: id.clone(),
                    ticket,
                    event_id: event.id.clone(),
                    attempts: 0,
                    last_delay: None,
                    event: Some(info.clone()),
                    rendered: None,
                    budget_start: 0,
                    queued_ms: now,
                    created_ms: now,
                };
                if let Some(t) = fanout.get_mut(ep) {
                    t.items.push(item);
                } else if let Some(reg) = self.endpoints.get(ep) {
                    let addr = reg.addr.clone();
                    let target = Target {
                        addr,
                        items: vec![item],
                    };
                    fanout.insert(ep.to_string(), target);
                }
                refs.push(ReceiptDelivery {
                    id,
                    endpoint_id: ep.to_string(),
                });
            }
            changes.event(
                &event.id,
                event.accepted_ms().unwrap_or(now),
                &body,
                &refs,
                traceparent.as_deref(),
                app,
            );
            receipts.push(PublishReceipt {
                id: event.id,
                deliveries: refs,
            });
        }
        let filtered = filtered
            .into_iter()
            .filter_map(|(id, n)| {
                let reg = self.endpoints.get(&id)?;
                Some((reg.record.label(), reg.addr.clone(), n))
            })
            .collect();
        Planned {
            changes,
            receipts,
            targets: fanout,
            filtered,
        }
    }
}
