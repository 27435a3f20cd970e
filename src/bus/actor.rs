//! The bus actor: subscriptions, publish fan-out and the endpoint registry.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::matcher::Subscriptions;
use super::messages::{DrainAll, GetEndpoint, ListEndpoints, StopAll};
use crate::endpoint::EndpointActor;
use crate::endpoint::actor::{Deps, TransformSlot};
use crate::endpoint::messages::{Drain, Reconfigure, Stop};
use crate::ids::now_ms;
use crate::model::app::DEFAULT_APP_ID;
use crate::model::filter::Filter;
use crate::store::records::EndpointRecord;
use crate::store::{Store, StoreError, retention};
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

/// Caller-chosen event ids and idempotency keys being committed right now
/// (not yet visible in the store). The bus adds them as it plans a publish;
/// the committer thread removes them once the rows are written, before the
/// publisher is answered, so a retry after the answer finds the rows.
pub(super) type Committing = Arc<std::sync::Mutex<HashSet<String>>>;

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
    /// Caller-chosen event ids and idempotency keys being committed.
    pub(super) committing: Committing,
    /// Deliveries a replay or retry re-opened whose commit has not landed.
    pub(super) reopening: HashSet<String>,
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
            committing: Default::default(),
            reopening: HashSet::new(),
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
            reg.addr.do_send(Stop);
        }
    }

    /// Forget an endpoint (as [`unregister`](Self::unregister)) and retire
    /// its actor, but leave it running: the caller stops it. Retired here,
    /// not by the caller, because its `Stop` may wait behind other messages
    /// and a retry timer could start an attempt in between, after the
    /// endpoint is already gone from every list.
    pub(super) fn detach(&mut self, record: &EndpointRecord) -> Option<Registered> {
        let reg = self.endpoints.remove(&record.id);
        self.w.board.remove(&record.id);
        self.unindex(record);
        if let Some(reg) = &reg {
            reg.retired.store(true, std::sync::atomic::Ordering::SeqCst);
        }
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
