//! The endpoint actor: wires the queue, breaker, retry schedule and awc
//! together with messages and one re-armed timer. Decisions live in the pure
//! modules next to it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use rand::Rng;

use super::breaker::{Breaker, State as BreakerState, Transition};
use super::classify::{self, Decision, Outcome};
use super::deliver::{self, AttemptInput, AttemptResult};
use super::messages::{Enqueue, GetSnapshot, Reconfigure, Snapshot, Stop};
use super::queue::{EventInfo, Item, Queue};
use super::spec::Status;
use super::stats::Stats;
use crate::ids::now_ms;
use crate::store::records::{AttemptRecord, DeadLetter, DeliveryStatus, EndpointRecord};
use crate::store::{Cf, Op, Store, keys};
use crate::telemetry::{
    AttemptFinished, CircuitChanged, DeliveryFinished, DeliveryOutcome, EndpointGauges,
};

/// Owns one endpoint's deliveries.
pub struct EndpointActor {
    /// Current endpoint definition; replaced atomically by `Reconfigure`.
    record: Arc<EndpointRecord>,
    /// HMAC keys derived from the secrets, computed once per version.
    keys: Vec<Vec<u8>>,
    store: Store,
    /// This arbiter's client (awc is `!Send`, so it is fetched in `started`).
    client: Option<awc::Client>,
    queue: Queue,
    breaker: Breaker,
    /// The one pending wake-up and its deadline, so it can be re-armed earlier.
    timer: Option<(Instant, SpawnHandle)>,
    /// Open deliveries, memory and store (the queue-depth gauge).
    depth: usize,
    /// Dead letters of this endpoint in the store (the dead-letters gauge).
    dead_letters: u64,
    /// Counts and latencies since start.
    stats: Stats,
}

impl EndpointActor {
    /// An actor for `record`; it pages its queue from `store` when started.
    pub fn new(
        record: Arc<EndpointRecord>,
        store: Store,
        queue_memory: usize,
        dead_letters: u64,
    ) -> Self {
        Self {
            keys: deliver::signing_keys(&record.spec),
            breaker: Breaker::new(record.spec.circuit_breaker.clone()),
            record,
            store,
            client: None,
            queue: Queue::new(queue_memory),
            timer: None,
            depth: 0,
            dead_letters,
            stats: Stats::default(),
        }
    }

    fn name(&self) -> &str {
        &self.record.spec.name
    }

    fn gauges(&self) {
        let status = match self.record.spec.status {
            Status::Active => 0,
            Status::Paused => 1,
            Status::Disabled => 2,
        };
        EndpointGauges {
            endpoint: self.name(),
            queue_depth: self.depth,
            dead_letters: self.dead_letters,
            circuit: self.breaker.state(Instant::now()),
            status,
        }
        .emit();
    }

    /// Start as many attempts as the limits allow, page in more work, re-arm the timer.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        self.page_in();
        // Paused and disabled endpoints keep their queue and spend no attempts.
        if self.record.spec.status == Status::Active {
            let limit = self.record.spec.max_in_flight as usize;
            loop {
                let now = Instant::now();
                if self.queue.in_flight() >= limit || !self.queue.has_ready(now) {
                    break;
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
                self.start_attempt(item, ctx);
            }
            self.page_in();
        }
        self.arm(ctx);
    }

    /// Read the next page of the durable queue when there is room.
    fn page_in(&mut self) {
        let Some((after, room)) = self.queue.wants_page() else {
            return;
        };
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
        let mut stale = Vec::new();
        for (ticket, dlv_id) in rows {
            match self.store.delivery(&dlv_id) {
                Ok(Some(d)) if d.status.is_open() => {
                    let due = d
                        .next_attempt_at
                        .filter(|&t| t > now_ms)
                        .map(|t| now + Duration::from_millis(t - now_ms));
                    let item = Item {
                        delivery_id: d.id,
                        ticket,
                        event_id: d.event_id,
                        attempts: d.attempts,
                        last_delay: d.last_delay_ms.map(Duration::from_millis),
                        event: None,
                    };
                    items.push((item, due));
                }
                // Finished (or vanished) deliveries whose queue row outlived them.
                Ok(_) => stale.push(Op::Delete(Cf::Queue, keys::queue(&self.record.id, ticket))),
                Err(e) => {
                    tracing::error!(endpoint = self.name(), delivery = %dlv_id, error = %e, "Cannot read delivery.")
                }
            }
        }
        if !stale.is_empty() {
            let _ = self.store.write_buffered(&stale);
        }
        self.queue.add_page(items, last, exhausted);
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

    fn event_info(&self, event_id: &str) -> Option<Arc<EventInfo>> {
        let stored = self.store.event(event_id).ok().flatten()?;
        let accepted_ms = humantime::parse_rfc3339(&stored.event.timestamp)
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        Some(Arc::new(EventInfo {
            id: stored.event.id.clone(),
            event_type: stored.event.event_type.clone(),
            body: stored.event.body(),
            accepted_ms,
        }))
    }

    fn start_attempt(&mut self, mut item: Item, ctx: &mut Context<Self>) {
        if item.event.is_none() {
            item.event = self.event_info(&item.event_id);
        }
        let Some(event) = item.event.clone() else {
            let result = AttemptResult {
                outcome: Outcome::Refused("event not found in the store".into()),
                latency: Duration::ZERO,
                body: String::new(),
            };
            self.finish_attempt(item, result, now_ms(), ctx);
            return;
        };
        let attempt = item.attempts + 1;
        let started_ms = now_ms();
        let headers = deliver::headers(
            &self.record.spec,
            &self.keys,
            &AttemptInput {
                event_id: &event.id,
                event_type: &event.event_type,
                attempt,
                timestamp: (started_ms / 1000) as i64,
                body: &event.body,
                content_type: "application/json",
            },
        );
        let client = self.client.get_or_insert_with(deliver::client).clone();
        let spec = &self.record.spec;
        let (method, url, timeout) = (spec.method, spec.url.clone(), spec.timeout.get());
        let body = event.body.clone();
        // `spawn`, not `wait`: other messages and attempts proceed while this one is in flight.
        ctx.spawn(
            async move { deliver::send(&client, method, &url, &headers, body, timeout).await }
                .into_actor(self)
                .map(move |result, act, ctx| act.finish_attempt(item, result, started_ms, ctx)),
        );
    }

    fn finish_attempt(
        &mut self,
        mut item: Item,
        result: AttemptResult,
        started_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        let attempt = item.attempts + 1;
        item.attempts = attempt;
        let spec = &self.record.spec;
        let decision = classify::classify(&result.outcome, &spec.success_codes, SystemTime::now());
        let transition = if classify::is_receiver_failure(&decision) {
            self.breaker.on_failure(now)
        } else {
            self.breaker.on_success(now)
        };
        match transition {
            Some(Transition::Opened) => CircuitChanged {
                endpoint: &spec.name,
                state: BreakerState::Open,
            }
            .emit(),
            Some(Transition::Closed) => CircuitChanged {
                endpoint: &spec.name,
                state: BreakerState::Closed,
            }
            .emit(),
            None => {}
        }
        let label = classify::result_label(&result.outcome);
        AttemptFinished {
            endpoint: &spec.name,
            result: label,
            elapsed: result.latency,
            attempt,
            delivery_id: &item.delivery_id,
        }
        .emit();
        let (status_code, error) = match &result.outcome {
            Outcome::Response { status, .. } => (Some(*status), None),
            Outcome::Timeout => (None, Some("timeout".to_string())),
            Outcome::Network(e) | Outcome::Refused(e) => (None, Some(e.clone())),
        };
        let record = AttemptRecord {
            attempt,
            at: started_ms,
            status_code,
            latency_ms: result.latency.as_secs_f64() * 1000.0,
            error: match (&decision, error) {
                (Decision::Success, _) => None,
                (_, Some(e)) => Some(e),
                (Decision::Retry { reason, .. } | Decision::Permanent { reason }, None) => {
                    Some(reason.clone())
                }
            },
            response_body: result.body,
            result: label.to_string(),
        };
        let mut ops = vec![Op::put_json(
            Cf::Attempts,
            keys::attempt(&item.delivery_id, attempt),
            &record,
        )];
        let queue_key = keys::queue(&self.record.id, item.ticket);
        let mut retry_at = None;
        let (status, outcome, reason) = match decision {
            Decision::Success => (DeliveryStatus::Delivered, DeliveryOutcome::Success, None),
            Decision::Retry { .. } if attempt >= spec.retry.max_attempts => (
                DeliveryStatus::Dead,
                DeliveryOutcome::Dead,
                Some(format!(
                    "gave up after {attempt} attempts; last: {}",
                    record.error.clone().unwrap_or_default()
                )),
            ),
            Decision::Retry {
                retry_after,
                reason,
            } => {
                let delay = spec.retry.next_delay(
                    attempt,
                    item.last_delay,
                    retry_after,
                    rand::rng().random::<f64>(),
                );
                item.last_delay = Some(delay);
                retry_at = Some(now + delay);
                (
                    DeliveryStatus::Failed,
                    DeliveryOutcome::Failed,
                    Some(reason),
                )
            }
            Decision::Permanent { reason } => {
                (DeliveryStatus::Dead, DeliveryOutcome::Dead, Some(reason))
            }
        };
        match self.store.delivery(&item.delivery_id) {
            Ok(Some(mut d)) => {
                d.status = status;
                d.attempts = attempt;
                d.updated_at = now_ms();
                d.last_error = reason.clone();
                d.next_attempt_at = retry_at
                    .map(|at| now_ms() + at.saturating_duration_since(now).as_millis() as u64);
                d.last_delay_ms = item.last_delay.map(|l| l.as_millis() as u64);
                ops.push(Op::put_json(Cf::Deliveries, d.id.as_bytes(), &d));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(delivery = %item.delivery_id, error = %e, "Cannot read delivery.")
            }
        }
        self.stats.attempt(
            attempt,
            record.latency_ms,
            status == DeliveryStatus::Delivered,
            now_ms(),
        );
        match status {
            DeliveryStatus::Delivered => self.stats.delivered(),
            DeliveryStatus::Failed => self.stats.failed(),
            DeliveryStatus::Dead => {
                self.stats.dead();
                self.dead_letters += 1;
            }
            DeliveryStatus::Filtered => self.stats.filtered(),
            DeliveryStatus::Pending => {}
        }
        if status != DeliveryStatus::Failed {
            ops.push(Op::Delete(Cf::Queue, queue_key));
            self.depth = self.depth.saturating_sub(1);
        }
        if status == DeliveryStatus::Dead {
            let dl = DeadLetter {
                delivery_id: item.delivery_id.clone(),
                endpoint_id: self.record.id.clone(),
                event_id: item.event_id.clone(),
                reason: reason.clone().unwrap_or_default(),
                attempts: attempt,
                dead_at: now_ms(),
            };
            ops.push(Op::put_json(
                Cf::DeadLetters,
                item.delivery_id.as_bytes(),
                &dl,
            ));
        }
        if let Err(e) = self.store.write_buffered(&ops) {
            // The queue row stays, so the delivery is attempted again after a restart.
            tracing::error!(endpoint = %spec.name, delivery = %item.delivery_id, error = %e,
                "Cannot record attempt; the delivery will be retried.");
        }
        let end_to_end = (outcome == DeliveryOutcome::Success)
            .then(|| {
                item.event
                    .as_ref()
                    .map(|e| Duration::from_millis(now_ms().saturating_sub(e.accepted_ms)))
            })
            .flatten();
        DeliveryFinished {
            endpoint: &spec.name,
            outcome,
            end_to_end,
            delivery_id: &item.delivery_id,
            reason: reason.as_deref(),
        }
        .emit();
        self.queue.finish(item, retry_at);
        self.gauges();
        self.pump(ctx);
    }
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // `do_send` from the bus ignores capacity; this only bounds `try_send`.
        ctx.set_mailbox_capacity(1024);
        self.client = Some(deliver::client());
        self.depth = self.store.queue_len(&self.record.id).unwrap_or(0);
        self.gauges();
        self.pump(ctx);
    }
}

impl Handler<Enqueue> for EndpointActor {
    type Result = ();

    /// Take newly committed deliveries (or leave them in the store if memory is full).
    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        for item in msg.0 {
            // A page read that ran after the commit may have loaded (or even
            // finished) it already: only the queue row says it is still open.
            if self.queue.is_paged_range(item.ticket) {
                let row = keys::queue(&self.record.id, item.ticket);
                if !self.store.exists(Cf::Queue, &row).unwrap_or(true) {
                    continue;
                }
                if !self.queue.offer(item, None) {
                    continue;
                }
            } else {
                self.queue.offer(item, None);
            }
            self.depth += 1;
        }
        self.gauges();
        self.pump(ctx);
    }
}

impl Handler<Reconfigure> for EndpointActor {
    type Result = ();

    /// Switch to a new endpoint version; in-flight attempts finish with the old one.
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        if msg.0.version < self.record.version {
            return;
        }
        self.keys = deliver::signing_keys(&msg.0.spec);
        self.breaker.reconfigure(msg.0.spec.circuit_breaker.clone());
        self.record = msg.0;
        self.gauges();
        self.pump(ctx);
    }
}

impl Handler<Stop> for EndpointActor {
    type Result = ();

    /// Stop; pending rows stay durable.
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<GetSnapshot> for EndpointActor {
    type Result = MessageResult<GetSnapshot>;

    /// Report live state.
    fn handle(&mut self, _: GetSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Snapshot {
            queue_depth: self.depth,
            in_flight: self.queue.in_flight(),
            breaker: self.breaker.state(Instant::now()),
            dead_letters: self.dead_letters,
            stats: self.stats.view(),
        })
    }
}
