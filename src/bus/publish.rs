//! The publish path: check a publish, plan its batch (the event, one
//! delivery row per matched endpoint), queue it with the group committer,
//! and say what follows once it is durable.
//!
//! What follows runs on the committer thread, in commit order ([`Landed`]):
//! answer the publisher, hand each endpoint its deliveries. Every step of it
//! is a message to another thread, so the bus is not woken only to pass the
//! result on (it was, once per group, and then woke the publisher and the
//! endpoints itself). Commit order is also ticket order, so a FIFO endpoint
//! receives concurrent publishes' deliveries in the order they were
//! accepted without the bus re-ordering anything.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::BusError;
use super::actor::{Bus, Committing};
use super::messages::{Answer, Publish, PublishReceipt, Submit};
use super::plan::Target;
use super::pressure::{Bounds, Pressure};
use crate::endpoint::EndpointActor;
use crate::endpoint::messages::{Enqueue, FilteredOut};
use crate::event::Event;
use crate::ids::now_ms;
use crate::model::app::DEFAULT_APP_ID;
use crate::store::StoreError;
use crate::store::records::IdempotencyRecord;
use crate::telemetry::board::Board;
use crate::telemetry::{EventsFilteredOut, EventsPublished};

/// How long an idempotency key returns its first answer: 24 hours.
pub const IDEMPOTENCY_WINDOW_MS: u64 = 24 * 3600 * 1000;

impl Handler<Publish> for Bus {
    type Result = ResponseFuture<Result<Vec<PublishReceipt>, BusError>>;

    /// Check, plan one batch, queue it; answered once it is durable.
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.publish(msg, None, answer);
        Box::pin(async move { answered.await.unwrap_or(Err(BusError::Unavailable)) })
    }
}

impl Handler<Submit> for Bus {
    type Result = ();

    fn handle(&mut self, msg: Submit, _: &mut Context<Self>) {
        self.publish(msg.publish, None, msg.answer);
    }
}

impl Bus {
    /// A publish, answered on `answer`; `outbox` names the outbox entry it
    /// publishes, removed in the same commit.
    pub(super) fn publish(&mut self, msg: Publish, outbox: Option<String>, answer: Answer) {
        // A refusal is answered here; an accepted publish once durable.
        if let Err(e) = self.check_and_queue(msg, outbox, answer) {
            let (answer, e) = *e;
            let _ = answer.send(Err(e));
        }
    }

    fn check_and_queue(
        &mut self,
        msg: Publish,
        outbox: Option<String>,
        answer: Answer,
    ) -> Result<(), Box<(Answer, BusError)>> {
        let fail = |answer, e| Err(Box::new((answer, e)));
        let reqs = msg.events;
        let mut raw = msg.raw;
        let about = msg.about;
        let app = msg.app;
        let spans = msg.spans;
        // Dropped on every early return; released by the committer otherwise.
        let coming = msg.coming;
        let is_operational = about.is_some();
        let mut problems = Vec::new();
        let mut ids_seen = HashSet::new();
        let mut keys_seen = HashSet::new();
        // Earlier answers for repeated idempotency keys, by request index.
        let mut replayed: HashMap<usize, PublishReceipt> = HashMap::new();
        for (i, req) in reqs.iter().enumerate() {
            let prefix = if reqs.len() > 1 {
                format!("events[{i}].")
            } else {
                String::new()
            };
            problems.extend(
                req.problems()
                    .into_iter()
                    .map(|(f, m)| (format!("{prefix}{f}"), m)),
            );
            // Only the engine may speak as `hookbus.`: a forged
            // `hookbus.endpoint.disabled` would reach every ops receiver, signed.
            if about.is_none() && crate::event::is_reserved_type(&req.event_type) {
                problems.push((
                    format!("{prefix}type"),
                    "the `hookbus.` prefix is reserved for hookbus's own operational events".into(),
                ));
            }
            if let Some(given) = &req.idempotency_key {
                let key = &scoped_key(&app, given);
                if self.is_committing(&idem_slot(key)) || !keys_seen.insert(key.clone()) {
                    let e = BusError::Conflict(format!(
                        "a request with idempotency key `{given}` is in progress"
                    ));
                    return fail(answer, e);
                }
                match self.w.store.idempotent(key, IDEMPOTENCY_WINDOW_MS) {
                    Ok(Some(receipt)) => {
                        replayed.insert(i, receipt);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => return fail(answer, e.into()),
                }
            }
            if let Some(id) = &req.id {
                let taken = self.is_committing(id)
                    || !ids_seen.insert(id.clone())
                    || self.w.store.has_event(id).unwrap_or(false);
                if taken {
                    let e = BusError::Conflict(format!("event `{id}` already exists"));
                    return fail(answer, e);
                }
            }
        }
        if !problems.is_empty() {
            return fail(answer, BusError::Invalid(problems));
        }
        let mut claimed = Vec::new();
        let mut fresh = Vec::new();
        let mut keys_of_fresh = Vec::new();
        for (i, req) in reqs.into_iter().enumerate() {
            if replayed.contains_key(&i) {
                continue;
            }
            let key = req.idempotency_key.as_deref().map(|k| scoped_key(&app, k));
            claimed.extend(req.id.clone());
            claimed.extend(key.as_deref().map(idem_slot));
            keys_of_fresh.push(key);
            let trace = (req.traceparent.clone(), spans.get(i).cloned());
            let text = raw.get_mut(i).and_then(Option::take);
            fresh.push((i, (Event::accept(req), trace, text)));
        }
        let count = fresh.len() as u64;
        let order: Vec<usize> = fresh.iter().map(|(i, _)| *i).collect();
        let mut planned = self.plan(
            fresh.into_iter().map(|(_, e)| e).collect(),
            about.as_deref(),
            &app,
        );
        // Push-back: not for the engine's own events (their outbox would only
        // retry), nor for a request that only repeats acknowledged keys.
        if !is_operational && count > 0 {
            if let Some(why) = self.pushed_back(planned.targets.keys().map(String::as_str)) {
                return fail(answer, BusError::Overloaded(why));
            }
        }
        let now = now_ms();
        for (key, receipt) in keys_of_fresh.iter().zip(&planned.receipts) {
            if let Some(key) = key {
                planned.changes.idempotency(
                    key,
                    &IdempotencyRecord {
                        at: now,
                        receipt: receipt.clone(),
                    },
                );
            }
        }
        if let Some(id) = &outbox {
            planned.changes.forget_outbox(id);
        }
        if !claimed.is_empty() {
            self.committing_set().extend(claimed.iter().cloned());
        }
        let mut receipts: Vec<(usize, PublishReceipt)> =
            order.into_iter().zip(planned.receipts).collect();
        receipts.extend(replayed);
        receipts.sort_by_key(|(i, _)| *i);
        let landed = Landed {
            answer,
            committing: self.committing.clone(),
            claimed,
            targets: planned.targets,
            filtered: planned.filtered,
            count,
            kind: if is_operational {
                "operational"
            } else {
                "user"
            },
            pressure: (self.w.backlog_bounds != Bounds::default()).then(|| {
                (
                    self.w.board.clone(),
                    self.w.pressure.clone(),
                    self.w.backlog_bounds,
                )
            }),
            receipts: receipts.into_iter().map(|(_, r)| r).collect(),
        };
        // Queued with the committer now, so commit order is the order the
        // bus planned in (ticket order); the bus goes on to the next publish.
        self.w
            .store
            .commit_then(planned.changes, coming, move |res| landed.finish(res));
        Ok(())
    }

    fn committing_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.committing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_committing(&self, slot: &str) -> bool {
        self.committing_set().contains(slot)
    }

    /// Why publishing to `targets` must wait now, if it must: the healthy
    /// backlog over the global bound, or a target over its own (judged by
    /// its live queue depth).
    fn pushed_back<'a>(&self, mut targets: impl Iterator<Item = &'a str>) -> Option<String> {
        let bounds = self.w.backlog_bounds;
        let mut p = self.w.pressure.lock().unwrap_or_else(|e| e.into_inner());
        if p.global || bounds.per_endpoint == 0 {
            return p.refuses(bounds, std::iter::empty());
        }
        targets
            .find(|t| self.w.board.with_row(t, |r| p.endpoint_over(t, r, bounds)))
            .and_then(|t| p.refuses(bounds, std::iter::once(t)))
    }
}

/// What a publish does once its batch is written, on the committer thread:
/// only counters and messages to other threads, so it is short and never
/// blocks the next group.
struct Landed {
    answer: Answer,
    committing: Committing,
    claimed: Vec<String>,
    targets: HashMap<String, Target>,
    filtered: Vec<(String, Addr<EndpointActor>, u64)>,
    count: u64,
    kind: &'static str,
    /// With backlog bounds configured: what counts the new deliveries.
    pressure: Option<(Arc<Board>, Arc<Mutex<Pressure>>, Bounds)>,
    /// In request order.
    receipts: Vec<PublishReceipt>,
}

impl Landed {
    fn finish(self, res: Result<(), StoreError>) {
        if !self.claimed.is_empty() {
            let mut set = self.committing.lock().unwrap_or_else(|p| p.into_inner());
            for id in &self.claimed {
                set.remove(id);
            }
        }
        if let Err(e) = res {
            let _ = self.answer.send(Err(e.into()));
            return;
        }
        for (label, addr, n) in self.filtered {
            EventsFilteredOut {
                endpoint: &label,
                count: n,
            }
            .emit();
            addr.do_send(FilteredOut(n));
        }
        EventsPublished {
            count: self.count,
            kind: self.kind,
        }
        .emit();
        if let Some((board, pressure, bounds)) = &self.pressure {
            let mut p = pressure.lock().unwrap_or_else(|e| e.into_inner());
            for (ep, t) in &self.targets {
                // The live row (not the last assessment's) says whether it is healthy now.
                board.with_row(ep, |live| p.enqueued(ep, t.items.len(), *bounds, live));
            }
        }
        for t in self.targets.into_values() {
            // do_send: the rows are durable, and the actor must see them
            // (or know to page them) even when its mailbox is busy.
            t.addr.do_send(Enqueue {
                items: t.items,
                replayed: 0,
            });
        }
        let _ = self.answer.send(Ok(self.receipts));
    }
}

/// An idempotency key as stored: the caller's key in the default application
/// (as before applications existed), prefixed by the application elsewhere,
/// so two tenants' equal keys never answer each other's publishes.
fn scoped_key(app: &str, key: &str) -> String {
    if app == DEFAULT_APP_ID {
        key.to_string()
    } else {
        format!("{app}\0{key}")
    }
}

/// Idempotency keys share the `committing` set with event ids; a prefix keeps them apart.
fn idem_slot(key: &str) -> String {
    format!("\0idem:{key}")
}
