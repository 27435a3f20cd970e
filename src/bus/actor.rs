//! The bus actor: subscriptions, publish fan-out and the endpoint registry.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::matcher::Subscriptions;
use super::messages::{
    DrainAll, GetEndpoint, ListEndpoints, Publish, PublishReceipt, ReceiptDelivery, StopAll,
};
use super::{BusError, fail};
use crate::endpoint::EndpointActor;
use crate::endpoint::actor::{Deps, TransformSlot};
use crate::endpoint::messages::{Drain, Enqueue, Reconfigure, Stop};
use crate::endpoint::queue::{EventInfo, Item};
use crate::endpoint::spec::Status;
use crate::event::{Event, RawPayload};
use crate::ids::{self, now_ms};
use crate::model::app::DEFAULT_APP_ID;
use crate::model::filter::{Filter, Subject};
use crate::store::records::{DeliveryRecord, DeliveryStatus, EndpointRecord, IdempotencyRecord};
use crate::store::{Changes, Store, StoreError, retention};
use crate::telemetry::EventsPublished;
use crate::transform::builtin;
use crate::transform::pool::Pool;
use rhai::Engine;

pub(super) struct Registered {
    pub(super) record: Arc<EndpointRecord>,
    pub(super) addr: Addr<EndpointActor>,
    /// Its payload filter, parsed once (checked when saved).
    pub(super) filter: Option<Arc<Filter>>,
    /// Its compiled script, kept so a change that leaves the script alone
    /// (a secret rotation) does not compile it again on the bus's thread.
    pub(super) transform: TransformSlot,
    /// This node drives it (see [`Bus::drives`]).
    pub(super) driving: bool,
    /// Shared with its actor: set when the bus forgets it, so no attempt
    /// starts between that and the actor's `Stop`.
    pub(super) retired: Arc<std::sync::atomic::AtomicBool>,
}

/// What the bus needs from the engine around it.
pub struct Wiring {
    /// The store.
    pub store: Store,
    /// Delivery threads; endpoint actors are spread over them round-robin.
    pub workers: Vec<ArbiterHandle>,
    /// Deliveries per endpoint held in memory.
    pub queue_memory: usize,
    /// How long finished events are kept (`storage.retention`).
    pub retention: Duration,
    /// Compiles scripts when endpoints are created, updated or loaded.
    pub engine: Arc<Engine>,
    /// Where endpoint actors send scripts to run.
    pub pool: Pool,
    /// `transforms.max_script_bytes`.
    pub max_script_bytes: usize,
    /// The SSRF policy for every delivery.
    pub guard: Arc<crate::endpoint::ssrf::Guard>,
    /// Delivery outcomes for the host.
    pub outcomes: crate::outcomes::Sender,
    /// Per-endpoint gauges for `/metrics` (rows removed with their endpoint).
    pub board: Arc<crate::telemetry::board::Board>,
    /// `apps.max_endpoints_per_app` (the default application has no limit).
    pub max_endpoints_per_app: usize,
    /// `delivery.max_backlog`, `delivery.max_backlog_per_endpoint`.
    pub backlog_bounds: super::pressure::Bounds,
    /// The latest push-back assessment, shared with `/readyz`.
    pub pressure: Arc<std::sync::Mutex<super::pressure::Pressure>>,
    /// Applications, tokens and the catalogue: a cluster node reloads it
    /// when another node changes them.
    pub directory: Option<Arc<crate::directory::Directory>>,
}

/// An event's W3C `traceparent` and its publish span, carried to its deliveries.
type Trace = (Option<String>, Option<tracing::Span>);

/// An accepted event to plan: its trace, and its payload's text when the
/// publisher's JSON was kept as text.
type ToPlan = (Event, Trace, Option<RawPayload>);

/// A planned publish: the batch, the receipts, each endpoint's new items,
/// and how many matched events each endpoint's filter turned away.
type Planned = (
    Changes,
    Vec<PublishReceipt>,
    HashMap<String, Vec<Item>>,
    HashMap<String, u64>,
);

/// Routes events to endpoint actors.
pub struct Bus {
    pub(super) w: Wiring,
    /// Each application's subscription trie, by application id.
    pub(super) subs: HashMap<String, Subscriptions>,
    pub(super) endpoints: HashMap<String, Registered>,
    /// (application id, name) → id, for upserts and look-ups by name.
    pub(super) names: HashMap<(String, String), String>,
    /// Applications deleted while this process runs: saves into them are refused.
    pub(super) deleted_apps: HashSet<String>,
    next_worker: usize,
    /// Caller-chosen event ids being committed right now (not yet visible in the store).
    committing: HashSet<String>,
    /// Publishes' deliveries, released to their endpoints in commit order.
    handoff: super::handoff::InOrder<HashMap<String, Vec<Item>>>,
    /// Its own address, handed to endpoint actors (set in `started`).
    me: Option<Addr<Bus>>,
    /// Cluster mode: the partitions this node drives; `None` (embedded):
    /// every endpoint.
    pub(super) owned: Option<crate::store::Owned>,
}

/// How often the retention sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often the healthy backlog is summed for publish push-back.
const PRESSURE_EVERY: Duration = Duration::from_millis(100);

impl Bus {
    /// A bus wired to the rest of the engine.
    pub fn new(w: Wiring) -> Self {
        Self {
            w,
            subs: HashMap::new(),
            endpoints: HashMap::new(),
            names: HashMap::new(),
            deleted_apps: HashSet::new(),
            next_worker: 0,
            committing: HashSet::new(),
            handoff: Default::default(),
            me: None,
            owned: None,
        }
    }

    /// Start actors for every stored endpoint (at start-up).
    fn load(&mut self) -> Result<(), StoreError> {
        let dead = self.w.store.dead_letter_counts()?;
        for rec in self.w.store.endpoints()? {
            let n = dead.get(&rec.id).copied().unwrap_or(0);
            let transform = self.stored_transform(&rec);
            self.register(Arc::new(rec), transform, n);
        }
        Ok(())
    }

    /// The script of an endpoint read from the store, compiled. One that no
    /// longer compiles (its file is gone, say) is logged; its deliveries then
    /// dead-letter with that error until the endpoint is fixed.
    pub(super) fn stored_transform(&self, rec: &EndpointRecord) -> TransformSlot {
        let transform =
            builtin::for_endpoint(&self.w.engine, &rec.spec, self.w.max_script_bytes).transpose();
        if let Some(Err(e)) = &transform {
            tracing::error!(endpoint = %rec.spec.name, error = %e, "Endpoint script does not compile.");
        }
        transform
    }

    /// Stop an endpoint's actor and forget it: its subscriptions, name and
    /// gauges (counters are filtered at render). Its rows are the caller's.
    pub(super) fn unregister(&mut self, record: &EndpointRecord) {
        if let Some(reg) = self.detach(record) {
            reg.retired.store(true, std::sync::atomic::Ordering::SeqCst);
            reg.addr.do_send(Stop);
        }
    }

    /// Forget an endpoint (as [`unregister`](Self::unregister)) but leave
    /// its actor running: the caller stops it.
    pub(super) fn detach(&mut self, record: &EndpointRecord) -> Option<Registered> {
        let reg = self.endpoints.remove(&record.id);
        self.w.board.remove(&record.id);
        self.unindex(record);
        reg
    }

    /// The endpoint's actor on the next delivery thread, with its retired flag.
    fn spawn_actor(
        &mut self,
        record: Arc<EndpointRecord>,
        transform: TransformSlot,
        dead: u64,
    ) -> (Addr<EndpointActor>, Arc<std::sync::atomic::AtomicBool>) {
        let bus = self.me.clone().map(Addr::recipient);
        let retired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let deps = Deps {
            store: self.w.store.clone(),
            pool: self.w.pool.clone(),
            guard: self.w.guard.clone(),
            bus,
            queue_memory: self.w.queue_memory,
            outcomes: Some(self.w.outcomes.clone()),
            board: Some(self.w.board.clone()),
            driving: self.drives(&record.id),
            retired: retired.clone(),
        };
        let actor = move |r| EndpointActor::new(r, transform, deps, dead);
        if self.w.workers.is_empty() {
            return (actor(record).start(), retired);
        }
        let w = &self.w.workers[self.next_worker % self.w.workers.len()];
        self.next_worker += 1;
        (
            EndpointActor::start_in_arbiter(w, move |_| actor(record)),
            retired,
        )
    }

    pub(super) fn register(
        &mut self,
        record: Arc<EndpointRecord>,
        transform: TransformSlot,
        dead_letters: u64,
    ) {
        self.subs
            .entry(record.app.clone())
            .or_default()
            .set(&record.id, record.spec.patterns());
        self.names.insert(
            (record.app.clone(), record.spec.name.clone()),
            record.id.clone(),
        );
        let filter = record
            .spec
            .filter
            .as_ref()
            .and_then(|f| Filter::parse(f).ok())
            .map(Arc::new);
        match self.endpoints.get_mut(&record.id) {
            Some(reg) => {
                reg.addr.do_send(Reconfigure {
                    record: record.clone(),
                    transform: transform.clone(),
                });
                reg.record = record;
                reg.transform = transform;
                reg.filter = filter;
            }
            None => {
                let (addr, retired) =
                    self.spawn_actor(record.clone(), transform.clone(), dead_letters);
                let driving = self.drives(&record.id);
                self.endpoints.insert(
                    record.id.clone(),
                    Registered {
                        record,
                        addr,
                        filter,
                        transform,
                        driving,
                        retired,
                    },
                );
            }
        }
    }

    /// The store.
    pub(super) fn store(&self) -> &Store {
        &self.w.store
    }

    /// Endpoint id for an id or a name within application `app`: an
    /// endpoint of another application is not found, by id or by name.
    pub(super) fn endpoint_id(&self, app: &str, id_or_name: &str) -> Option<String> {
        let id = self
            .names
            .get(&(app.to_string(), id_or_name.to_string()))
            .map_or(id_or_name, String::as_str);
        self.endpoints
            .get(id)
            .filter(|r| r.record.app == app)
            .map(|r| r.record.id.clone())
    }

    /// Drop an endpoint from the trie and name index of its application.
    pub(super) fn unindex(&mut self, record: &EndpointRecord) {
        if let Some(subs) = self.subs.get_mut(&record.app) {
            subs.remove(&record.id);
            if subs.is_empty() && record.app != DEFAULT_APP_ID {
                self.subs.remove(&record.app);
            }
        }
        self.names
            .remove(&(record.app.clone(), record.spec.name.clone()));
    }

    /// Whether an endpoint with this id is registered.
    pub(super) fn has_endpoint(&self, id: &str) -> bool {
        self.endpoints.contains_key(id)
    }

    /// Send a message to an endpoint's actor, if it exists.
    pub(super) fn send_to<M>(&self, endpoint_id: &str, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        EndpointActor: Handler<M>,
    {
        if let Some(reg) = self.endpoints.get(endpoint_id) {
            reg.addr.do_send(msg);
        }
    }

    /// Build the batch for `events` (each with its traceparent and publish
    /// span); returns receipts and per-endpoint items.
    fn plan(&mut self, events: Vec<ToPlan>, about: Option<&str>, app: &str) -> Planned {
        let now = now_ms();
        let mut changes = Changes::new();
        let mut receipts = Vec::with_capacity(events.len());
        let mut fanout: HashMap<String, Vec<Item>> = HashMap::new();
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
                fanout.entry(ep.to_string()).or_default().push(Item {
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
                });
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
        (changes, receipts, fanout, filtered)
    }

    /// Sum the healthy endpoints' backlog again (see `pressure`).
    fn reassess(&mut self) {
        let rows = self.w.board.rows();
        let mut p = self.w.pressure.lock().unwrap_or_else(|e| e.into_inner());
        let next = super::pressure::assess(&rows, self.w.backlog_bounds, &p);
        if next.global != p.global || next.endpoints != p.endpoints {
            tracing::warn!(
                healthy_backlog = next.healthy_backlog,
                global = next.global,
                endpoints = next.endpoints.len(),
                "Publish push-back changed."
            );
        }
        *p = next;
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

    /// Events an endpoint's filter turned away: a counter, and the
    /// endpoint's own totals (its actor keeps them).
    fn count_filtered(&self, endpoint_id: &str, n: u64) {
        if let Some(reg) = self.endpoints.get(endpoint_id) {
            crate::telemetry::EventsFilteredOut {
                endpoint: &reg.record.label(),
                count: n,
            }
            .emit();
            reg.addr.do_send(crate::endpoint::messages::FilteredOut(n));
        }
    }
}

impl Actor for Bus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.me = Some(ctx.address());
        // Before the actors start: each is told whether it drives.
        self.follow_cluster(ctx);
        if let Err(e) = self.load() {
            tracing::error!(error = %e, "Cannot load endpoints from the store.");
        }
        // Operational events whose publish had not committed when the last
        // process stopped (or failed): publish them now.
        match self.w.store.outbox() {
            Ok(entries) => {
                for entry in entries {
                    self.announce(entry, ctx);
                }
            }
            Err(e) => tracing::error!(error = %e, "Cannot read the operational-event outbox."),
        }
        let b = self.w.backlog_bounds;
        if b.global > 0 || b.per_endpoint > 0 {
            ctx.run_interval(PRESSURE_EVERY, |act, _| act.reassess());
        }
        ctx.run_interval(SWEEP_EVERY, |act, _| {
            if !act.runs_chores() {
                return;
            }
            let store = act.w.store.clone();
            let cutoff = now_ms().saturating_sub(act.w.retention.as_millis() as u64);
            // The sweep scans and deletes; keep it off the bus thread.
            actix_rt::task::spawn_blocking(move || match retention::sweep(&store, cutoff) {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "Retention sweep removed old events."),
                Err(e) => tracing::warn!(error = %e, "Retention sweep failed; will retry."),
            });
        });
    }
}

impl Handler<Publish> for Bus {
    type Result = ResponseActFuture<Self, Result<Vec<PublishReceipt>, BusError>>;

    /// Validate, plan one batch, commit it (group-committed), then fan out.
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        self.publish(msg, None)
    }
}

impl Bus {
    /// A publish; `outbox` names the outbox entry it publishes, removed in
    /// the same commit.
    pub(super) fn publish(
        &mut self,
        msg: Publish,
        outbox: Option<String>,
    ) -> ResponseActFuture<Self, Result<Vec<PublishReceipt>, BusError>> {
        let reqs = msg.events;
        let mut raw = msg.raw;
        let about = msg.about;
        let app = msg.app;
        let spans = msg.spans;
        // Dropped on every early return, and just before the commit below.
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
                if self.committing.contains(&idem_slot(key)) || !keys_seen.insert(key.clone()) {
                    return fail(BusError::Conflict(format!(
                        "a request with idempotency key `{given}` is in progress"
                    )));
                }
                match self.w.store.idempotent(key, IDEMPOTENCY_WINDOW_MS) {
                    Ok(Some(receipt)) => {
                        replayed.insert(i, receipt);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => return fail(e.into()),
                }
            }
            if let Some(id) = &req.id {
                let taken = self.committing.contains(id)
                    || !ids_seen.insert(id.clone())
                    || self.w.store.has_event(id).unwrap_or(false);
                if taken {
                    return fail(BusError::Conflict(format!("event `{id}` already exists")));
                }
            }
        }
        if !problems.is_empty() {
            return fail(BusError::Invalid(problems));
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
        self.committing.extend(claimed.iter().cloned());
        let count = fresh.len() as u64;
        let order: Vec<usize> = fresh.iter().map(|(i, _)| *i).collect();
        let (mut changes, receipts, fanout, filtered) = self.plan(
            fresh.into_iter().map(|(_, e)| e).collect(),
            about.as_deref(),
            &app,
        );
        // Push-back: not for the engine's own events (their outbox would only
        // retry), nor for a request that only repeats acknowledged keys.
        if !is_operational && count > 0 {
            if let Some(why) = self.pushed_back(fanout.keys().map(String::as_str)) {
                for id in &claimed {
                    self.committing.remove(id);
                }
                return fail(BusError::Overloaded(why));
            }
        }
        let now = now_ms();
        for (key, receipt) in keys_of_fresh.iter().zip(&receipts) {
            if let Some(key) = key {
                changes.idempotency(
                    key,
                    &IdempotencyRecord {
                        at: now,
                        receipt: receipt.clone(),
                    },
                );
            }
        }
        if let Some(id) = &outbox {
            changes.forget_outbox(id);
        }
        // Queued with the committer now, in ticket order; the handler returns
        // at once so the bus keeps planning other publishes while this batch
        // waits for its group commit.
        drop(coming);
        let committed = self.w.store.commit(changes);
        // Numbered in commit order (the commit was queued just now).
        let handoff = self.handoff.number();
        Box::pin(committed.into_actor(self).map(move |res, act, _| {
            for id in &claimed {
                act.committing.remove(id);
            }
            if res.is_err() {
                act.hand_over(handoff, None);
            }
            res?;
            for (ep, n) in filtered {
                act.count_filtered(&ep, n);
            }
            EventsPublished {
                count,
                kind: if is_operational {
                    "operational"
                } else {
                    "user"
                },
            }
            .emit();
            if act.w.backlog_bounds != Default::default() {
                let mut p = act.w.pressure.lock().unwrap_or_else(|e| e.into_inner());
                for (ep, items) in &fanout {
                    // The live row (not the last assessment's) says whether it is healthy now.
                    act.w.board.with_row(ep, |live| {
                        p.enqueued(ep, items.len(), act.w.backlog_bounds, live)
                    });
                }
            }
            act.hand_over(handoff, Some(fanout));
            let mut all: Vec<(usize, PublishReceipt)> = order.into_iter().zip(receipts).collect();
            all.extend(replayed);
            all.sort_by_key(|(i, _)| *i);
            Ok(all.into_iter().map(|(_, r)| r).collect())
        }))
    }
}

impl Bus {
    /// Publish number `n` was committed with these deliveries (`None`: its
    /// commit failed): send each endpoint what is now ready, in commit order.
    fn hand_over(&mut self, n: u64, fanout: Option<HashMap<String, Vec<Item>>>) {
        let mut ready = self.handoff.finish(n, fanout);
        let merged = if ready.len() == 1 {
            ready.pop().unwrap_or_default()
        } else {
            let mut merged: HashMap<String, Vec<Item>> = HashMap::new();
            for fanout in ready {
                for (ep, items) in fanout {
                    merged.entry(ep).or_default().extend(items);
                }
            }
            merged
        };
        for (ep, items) in merged {
            if let Some(reg) = self.endpoints.get(&ep) {
                // do_send: the rows are durable, and the actor must see them
                // (or know to page them) even when its mailbox is busy.
                reg.addr.do_send(Enqueue { items, replayed: 0 });
            }
        }
    }
}

/// How long an idempotency key returns its first answer: 24 hours.
pub const IDEMPOTENCY_WINDOW_MS: u64 = 24 * 3600 * 1000;

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

impl Handler<ListEndpoints> for Bus {
    type Result = MessageResult<ListEndpoints>;

    /// Every endpoint (of one application), in name order.
    fn handle(&mut self, msg: ListEndpoints, _: &mut Context<Self>) -> Self::Result {
        let mut v: Vec<_> = self
            .endpoints
            .values()
            .filter(|r| msg.0.as_ref().is_none_or(|a| &r.record.app == a))
            .map(|r| r.record.clone())
            .collect();
        v.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        MessageResult(v)
    }
}

impl Handler<DrainAll> for Bus {
    type Result = ResponseFuture<()>;

    /// Drain every endpoint; resolves when all have nothing in flight.
    fn handle(&mut self, _: DrainAll, _: &mut Context<Self>) -> Self::Result {
        let waits: Vec<_> = self
            .endpoints
            .values()
            .map(|r| r.addr.send(Drain))
            .collect();
        Box::pin(async move {
            futures_util::future::join_all(waits).await;
        })
    }
}

impl Handler<StopAll> for Bus {
    type Result = ();

    /// Stop every endpoint actor.
    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) {
        for reg in self.endpoints.values() {
            reg.addr.do_send(Stop);
        }
    }
}

impl Handler<GetEndpoint> for Bus {
    type Result = MessageResult<GetEndpoint>;

    /// Find an endpoint of the application by name, then by id.
    fn handle(&mut self, msg: GetEndpoint, _: &mut Context<Self>) -> Self::Result {
        let found = self
            .endpoint_id(&msg.app, &msg.endpoint)
            .and_then(|id| self.endpoints.get(&id));
        MessageResult(found.map(|r| (r.record.clone(), r.addr.clone())))
    }
}
