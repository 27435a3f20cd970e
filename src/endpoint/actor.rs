//! The endpoint actor: wires the queue, breaker, retry schedule and awc
//! together with messages and one re-armed timer. Decisions live in the pure
//! modules next to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Instant;

use actix::prelude::*;

use super::breaker::{Breaker, State as BreakerState};
use super::deliver;
use super::depth::Depth;
use super::queue::{Item, Queue};
use super::rate::Bucket;
use super::spec::{Ordering, Status};
use super::ssrf::Guard;
use super::stats::Stats;
use crate::ids::now_ms;
use crate::store::records::EndpointRecord;
use crate::store::{Changes, Store};
use crate::telemetry::{CircuitChanged, EndpointGauges};
use crate::transform::pool::Pool;

/// Owns one endpoint's deliveries.
pub struct EndpointActor {
    /// Current endpoint definition; replaced atomically by `Reconfigure`.
    pub(super) record: Arc<EndpointRecord>,
    /// HMAC keys derived from the secrets, computed once per version.
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) store: Store,
    /// This arbiter's client (awc is `!Send`, so it is fetched in `started`).
    pub(super) client: Option<awc::Client>,
    pub(super) queue: Queue,
    pub(super) breaker: Breaker,
    /// The one pending wake-up and its deadline, so it can be re-armed earlier.
    pub(super) timer: Option<(Instant, SpawnHandle)>,
    /// Open deliveries, memory and store (the queue-depth gauge), each queue row counted once.
    pub(super) depth: Depth,
    /// Dead letters of this endpoint in the store (the dead-letters gauge).
    pub(super) dead_letters: u64,
    /// Counts and latencies since start.
    pub(super) stats: Stats,
    /// The endpoint's script (or built-in format), or why it cannot run; none for plain JSON.
    pub(super) transform: TransformSlot,
    /// Where scripts run.
    pub(super) pool: Pool,
    /// SSRF policy every connection of this endpoint goes through.
    pub(super) guard: Arc<Guard>,
    /// The guard's answer for the IP literal in the last URL attempted.
    pub(super) literal: deliver::LiteralCheck,
    /// One transform batch per endpoint at a time, so a costly script occupies
    /// at most one pool thread and other endpoints' scripts still run.
    pub(super) transform_busy: bool,
    /// Deliveries waiting for this endpoint's transform slot.
    pub(super) transform_waiting: std::collections::VecDeque<Item>,
    /// The rate limit's token bucket, if the endpoint has one.
    pub(super) bucket: Option<Bucket>,
    /// When the bucket next has a token (a wake-up target while deliveries wait).
    pub(super) rate_wait: Option<Instant>,
    /// The bus, for operational events and auto-disable.
    pub(super) bus: Option<Recipient<super::messages::ToBus>>,
    /// Shutting down: no new attempts; these wait for the in-flight ones to finish.
    pub(super) draining: Option<Vec<tokio::sync::oneshot::Sender<()>>>,
    /// Operational events raised but not yet written with an outcome.
    pub(super) outbox: Vec<crate::store::records::OutboxEntry>,
    /// Writes awaited here (outcomes carrying operational events, stale
    /// queue rows); draining waits for them.
    pub(super) writes_pending: usize,
    /// Finished deliveries whose queue-row removal is not written yet: the
    /// store still shows them queued, so page reads and late offers skip them.
    pub(super) unsettled: super::unsettled::Unsettled,
    /// A write dropping stale queue rows is on its way: page reads wait for it.
    pub(super) stale_pending: bool,
    /// Outcome rows not yet handed to the committer (see `settle.rs`).
    pub(super) outcome_buf: Changes,
    /// Outcomes in `outcome_buf`.
    pub(super) outcome_count: usize,
    /// A hand-over of `outcome_buf` is scheduled.
    pub(super) flush_armed: bool,
    /// Outcomes for the host.
    pub(super) outcomes: Option<crate::outcomes::Sender>,
    /// Gauges for `/metrics`.
    pub(super) board: Option<Arc<crate::telemetry::board::Board>>,
    /// What the board last got (depth, in flight, dead letters, circuit, status, version).
    last_gauges: std::cell::Cell<Option<GaugeKey>>,
    /// The attempt and delivery series, resolved once (see [`Self::series`]).
    series: crate::telemetry::EndpointHandles,
    /// The `endpoint` label (name, or `<app uid>/<name>`), kept with the record.
    pub(super) label: String,
    /// A write of the filtered-out count is scheduled.
    pub(super) filtered_flush: bool,
    /// This node drives the endpoint (always, embedded; in cluster mode
    /// while it holds the partition's lease). Otherwise no page reads and
    /// no attempts.
    pub(super) driving: bool,
    /// See [`Deps::retired`].
    pub(super) retired: Arc<AtomicBool>,
    /// Attempts whose request is on the wire, by queue ticket: a cluster
    /// node that stops driving the endpoint cancels them, so no attempt of
    /// this node overlaps one of the next owner's.
    pub(super) sending: std::collections::HashMap<u128, SpawnHandle>,
}

/// The values the gauges show, to skip writes that would change nothing.
type GaugeKey = (usize, usize, u64, u8, u8, u64);

/// What every endpoint actor shares with the engine.
#[derive(Clone)]
pub struct Deps {
    /// The store.
    pub store: Store,
    /// Where scripts run.
    pub pool: Pool,
    /// The SSRF policy.
    pub guard: Arc<Guard>,
    /// The bus: operational events and auto-disable go through it (none in isolated tests).
    pub bus: Option<Recipient<super::messages::ToBus>>,
    /// Deliveries held in memory.
    pub queue_memory: usize,
    /// Where outcomes go for the host ([`crate::Hookbus::outcomes`]); none in isolated tests.
    pub outcomes: Option<crate::outcomes::Sender>,
    /// Where gauges go for `/metrics`; none in isolated tests.
    pub board: Option<Arc<crate::telemetry::board::Board>>,
    /// Whether this node drives the endpoint from the start (true unless a
    /// cluster node without the partition's lease).
    pub driving: bool,
    /// Set by the bus when it forgets the endpoint (deleted here or on
    /// another node): no attempt starts after that, though the actor may
    /// handle its `Stop` only later.
    pub retired: Arc<AtomicBool>,
}

pub use super::messages::TransformSlot;

impl EndpointActor {
    /// An actor for `record`; it pages its queue from `store` when started.
    pub fn new(
        record: Arc<EndpointRecord>,
        transform: TransformSlot,
        deps: Deps,
        dead_letters: u64,
    ) -> Self {
        let Deps {
            store,
            pool,
            guard,
            bus,
            queue_memory,
            outcomes,
            board,
            driving,
            retired,
        } = deps;
        let fifo = record.spec.ordering == Ordering::Fifo;
        let label = record.label();
        let record_bucket = record
            .spec
            .rate_limit
            .as_ref()
            .map(|r| Bucket::new(r, Instant::now()));
        Self {
            keys: deliver::signing_keys(&record.spec),
            breaker: Breaker::new(record.spec.circuit_breaker.clone()),
            record,
            store,
            client: None,
            queue: {
                let mut q = Queue::new(queue_memory);
                q.set_fifo(fifo);
                q
            },
            timer: None,
            depth: Depth::default(),
            dead_letters,
            stats: Stats::default(),
            transform,
            pool,
            guard,
            literal: Default::default(),
            transform_busy: false,
            transform_waiting: Default::default(),
            draining: None,
            bucket: record_bucket,
            rate_wait: None,
            bus,
            outbox: Vec::new(),
            writes_pending: 0,
            unsettled: Default::default(),
            stale_pending: false,
            outcome_buf: Changes::new(),
            outcome_count: 0,
            flush_armed: false,
            outcomes,
            board,
            last_gauges: std::cell::Cell::new(None),
            series: crate::telemetry::EndpointHandles::new(&label),
            label,
            filtered_flush: false,
            driving,
            retired,
            sending: std::collections::HashMap::new(),
        }
    }

    /// Its `endpoint` label in logs and metrics (see [`EndpointRecord::label`]).
    pub(super) fn name(&self) -> &str {
        &self.label
    }

    /// The attempt and delivery series under the current name and recorder.
    pub(super) fn series(&mut self) -> &crate::telemetry::EndpointHandles {
        self.series.current(&self.label)
    }

    /// [`Self::name`], owned (for an event emitted while `self` is borrowed mutably).
    pub(super) fn label_owned(&self) -> String {
        self.label.clone()
    }

    pub(super) fn gauges(&self) {
        let status = match self.record.spec.status {
            Status::Active => 0,
            Status::Paused => 1,
            Status::Disabled => 2,
        };
        let circuit = self.breaker.state(Instant::now());
        // Called on every pump: skip the board when nothing it shows changed.
        let shown = (
            self.depth.get(),
            self.queue.in_flight(),
            self.dead_letters,
            circuit.as_gauge() as u8,
            status,
            self.record.version,
        );
        if self.last_gauges.get() == Some(shown) {
            return;
        }
        self.last_gauges.set(Some(shown));
        EndpointGauges {
            board: self.board.as_deref(),
            endpoint_id: &self.record.id,
            endpoint: self.name(),
            queue_depth: self.depth.get(),
            in_flight: self.queue.in_flight(),
            dead_letters: self.dead_letters,
            circuit,
            status,
        }
        .emit();
    }

    /// Start as many attempts as the limits allow, page in more work, re-arm the timer.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        self.page_in(ctx);
        if self.draining.is_some() && self.queue.in_flight() == 0 {
            // The drain's barrier must come after every outcome.
            self.flush_outcomes();
        }
        if let Some(waiters) = &mut self.draining {
            // Drained once nothing is in flight and every outcome is handed over.
            if self.queue.in_flight() == 0 && self.writes_pending == 0 {
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
            return;
        }
        // Paused and disabled endpoints keep their queue and spend no
        // attempts; nor does a cluster node that does not drive it.
        if self.driving
            && self.record.spec.status == Status::Active
            && !self.retired.load(AtomicOrdering::SeqCst)
        {
            let limit = match self.record.spec.ordering {
                Ordering::Fifo => 1,
                Ordering::None => self.record.spec.max_in_flight as usize,
            };
            loop {
                let now = Instant::now();
                if self.queue.in_flight() >= limit || !self.queue.has_ready(now) {
                    break;
                }
                if let Some(b) = &mut self.bucket {
                    if let Err(wait) = b.check(now) {
                        self.rate_wait = Some(now + wait);
                        break;
                    }
                }
                let was_open = self.breaker.open_until().is_some();
                if !self.breaker.try_acquire(now) {
                    break;
                }
                if was_open {
                    CircuitChanged {
                        endpoint: self.name(),
                        state: BreakerState::HalfOpen,
                    }
                    .emit();
                }
                let Some(item) = self.queue.take(now) else {
                    break;
                };
                if let Some(b) = &mut self.bucket {
                    b.take();
                }
                self.start_attempt(item, ctx);
            }
            self.page_in(ctx);
            // Attempts may have started: in-flight is part of the gauges.
            self.gauges();
        }
        self.arm(ctx);
    }

    /// Keep exactly one timer, for the earliest of: next retry, breaker reopening.
    /// Paused or disabled endpoints need no timer: resuming reconfigures and pumps.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut target = None;
        if self.record.spec.status == Status::Active {
            // Promotes due retries, so `next_due` is in the future afterwards.
            let ready = self.queue.has_ready(now);
            target = self.queue.next_due();
            // An expired breaker needs no timer: the next pump (or attempt completion) tries it.
            if let (true, Some(until)) = (ready, self.breaker.open_until().filter(|u| *u > now)) {
                target = Some(target.map_or(until, |t| t.min(until)));
            }
            if let (true, Some(at)) = (ready, self.rate_wait.take().filter(|at| *at > now)) {
                target = Some(target.map_or(at, |t| t.min(at)));
            }
        }
        match (&self.timer, target) {
            (Some((at, _)), Some(t)) if *at == t => return,
            _ => {}
        }
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(t) = target {
            let h = ctx.run_later(t.saturating_duration_since(now), |act, ctx| {
                act.timer = None;
                act.pump(ctx);
            });
            self.timer = Some((t, h));
        }
    }
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    /// However it stops, buffered outcomes go to the committer.
    fn stopped(&mut self, _: &mut Self::Context) {
        self.flush_outcomes();
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        // `do_send` from the bus ignores capacity; this only bounds `try_send`.
        ctx.set_mailbox_capacity(1024);
        self.client = Some(deliver::client(&self.guard));
        self.rescan_depth();
        // Totals since creation and the `disable_after` clock survive restarts.
        match self.store.endpoint_totals(&self.record.id) {
            Ok(totals) => self.stats = Stats::resume(totals),
            Err(e) => tracing::error!(endpoint = self.name(), error = %e,
                "Cannot read the endpoint's totals; counting from zero."),
        }
        crate::telemetry::EndpointSeries {
            endpoint: self.name(),
        }
        .emit();
        self.gauges();
        self.pump(ctx);
        if self.depth.get() > 0 {
            self.log_resumed();
        }
    }
}

impl EndpointActor {
    /// Tell the operator what a (re)start picked up from the store: after a
    /// crash this is the line that says nothing acknowledged was forgotten.
    fn log_resumed(&mut self) {
        let now = Instant::now();
        let next = if self.record.spec.status != Status::Active {
            format!("none while {}", self.record.spec.status.as_str())
        } else if self.queue.in_flight() > 0 || self.queue.has_ready(now) {
            crate::ids::rfc3339_ms(now_ms())
        } else if let Some(due) = self.queue.next_due() {
            let ms = due.saturating_duration_since(now).as_millis() as u64;
            crate::ids::rfc3339_ms(now_ms() + ms)
        } else {
            "when the breaker allows".to_string()
        };
        tracing::info!(
            endpoint = self.name(),
            pending = self.depth.get(),
            next_attempt_at = %next,
            "{} pending deliveries resumed, next attempt at {next}.",
            self.depth.get()
        );
    }
}
