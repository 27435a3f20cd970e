//! One delivery's way through the endpoint actor: transform (on the pool),
//! HTTP attempt (on this thread), classification, the breaker and the pure
//! verdict; `settle.rs` carries the verdict out.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use rand::Rng;

use super::actor::EndpointActor;
use super::breaker::{State as BreakerState, Transition};
use super::classify;
use super::deliver::{self, AttemptResult};
use super::outgoing::{self, Outgoing};
use super::queue::{EventInfo, Item};
use super::settle::{Settle, dead, filtered};
use super::verdict;
use crate::ids::now_ms;
use crate::store::records::DeliveryStatus;
use crate::telemetry::{AttemptFinished, CircuitChanged, DeliveryOutcome};
use crate::transform::pool::RunTransform;
use crate::transform::{Rendered, TransformError};

/// Most deliveries in one hand-off to the transform pool.
const MAX_TRANSFORM_BATCH: usize = 64;

/// When the transform pool cannot take work (shutting down), try again after this.
const POOL_RETRY: Duration = Duration::from_secs(1);

/// How a delivery's body is made (see [`EndpointActor::render_plan`]).
pub(super) enum Render {
    /// The event as published.
    AsIs,
    /// Made here (redaction without a script).
    Ready(Rendered),
    /// The script cannot run: every delivery fails this way.
    Failed(TransformError),
    /// By this script, on the transform pool (redaction happens inside).
    Script(Arc<crate::transform::Compiled>),
}

/// Deliveries whose events one read loads: the one starting and the next
/// ready ones paged in without theirs. Batched, a page of a backlog costs
/// one RocksDB `MultiGet` per this many deliveries instead of a `Get` each;
/// the bodies held ahead stay few (this many per endpoint).
const EVENT_READ_AHEAD: usize = 32;

impl EndpointActor {
    /// Load `item`'s event, and those of the next ready deliveries without
    /// one, in one batched read. A missing or unreadable event stays `None`
    /// (the attempt then fails as "event not found").
    fn load_events(&mut self, item: &mut Item) {
        let mut ahead = self.queue.needing_events(EVENT_READ_AHEAD - 1);
        let ids = std::iter::once(item.event_id.as_str())
            .chain(ahead.iter().map(|i| i.event_id.as_str()));
        let found = self.store.events_to_send(ids);
        let mut found = found.into_iter().map(|stored| {
            let stored = stored.ok().flatten()?;
            let accepted_ms = stored.accepted_ms().unwrap_or(0);
            Some(Arc::new(
                EventInfo::new(stored.id, stored.event_type, stored.body, accepted_ms)
                    .with_trace(stored.traceparent, None),
            ))
        });
        item.event = found.next().flatten();
        for (next, event) in ahead.iter_mut().zip(found) {
            next.event = event;
        }
    }

    /// Begin a taken delivery: load its event, run its transform once, then send.
    pub(super) fn start_attempt(&mut self, mut item: Item, ctx: &mut Context<Self>) {
        if !self.driving {
            // The lease went while the event was loaded or the script ran.
            return self.abandon(item.ticket);
        }
        if item.event.is_none() {
            self.load_events(&mut item);
        }
        let Some(event) = item.event.clone() else {
            let reason = "event not found in the store".to_string();
            return self.settle(item, dead(reason, None), ctx);
        };
        if let Some(reason) = verdict::expired(
            item.queued_ms,
            now_ms(),
            self.record.spec.expire_after.get(),
        ) {
            return self.settle(item, dead(reason, None), ctx);
        }
        if item.rendered.is_none() {
            match self.render_plan(&event) {
                Render::AsIs => {}
                // Rendered once, so every retry sends (and signs) identical bytes.
                Render::Ready(r) => item.rendered = Some(Arc::new(r)),
                Render::Failed(e) => return self.transform_failed(item, e, ctx),
                Render::Script(_) => {
                    self.transform_waiting.push_back(item);
                    return self.run_transforms(ctx);
                }
            }
        }
        self.send_attempt(item, event, ctx);
    }

    /// How `event`'s body is made for this endpoint: as is, redacted here,
    /// by its script on the pool, or not at all (the script does not compile).
    pub(super) fn render_plan(&self, event: &EventInfo) -> Render {
        match &self.transform {
            None if !self.record.spec.redact.is_empty() => {
                let body = serde_json::to_vec(&event.redacted(&self.record.spec.redact))
                    .unwrap_or_default();
                Render::Ready(Rendered::Send(crate::transform::run::Request {
                    body: body.into(),
                    content_type: "application/json".into(),
                    headers: Vec::new(),
                    method: None,
                    url: None,
                }))
            }
            None => Render::AsIs,
            Some(Err(e)) => Render::Failed(e.clone()),
            Some(Ok(compiled)) => Render::Script(compiled.clone()),
        }
    }

    /// Send every delivery waiting for the script to the pool as one batch.
    /// While it runs, new ones queue up and form the next batch, so under
    /// load the thread hand-off is paid once per batch, not per delivery.
    fn run_transforms(&mut self, ctx: &mut Context<Self>) {
        let Some(Ok(compiled)) = &self.transform else {
            return;
        };
        if self.transform_busy || self.transform_waiting.is_empty() {
            return;
        }
        let n = self.transform_waiting.len().min(MAX_TRANSFORM_BATCH);
        let items: Vec<Item> = self.transform_waiting.drain(..n).collect();
        let msg = RunTransform {
            compiled: compiled.clone(),
            events: items.iter().filter_map(|i| i.event.clone()).collect(),
            record: self.record.clone(),
        };
        self.transform_busy = true;
        // The script runs on the pool; this thread keeps delivering meanwhile.
        ctx.spawn(
            self.pool
                .send(msg)
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.transform_busy = false;
                    if !act.driving {
                        // Another node drives the endpoint now, and renders them itself.
                        items.iter().for_each(|item| act.abandon(item.ticket));
                        return;
                    }
                    match res {
                        Ok(results) if results.len() == items.len() => {
                            for (mut item, result) in items.into_iter().zip(results) {
                                match result {
                                    Ok(Rendered::Skip) => act.settle(item, filtered(), ctx),
                                    Ok(rendered) => {
                                        item.rendered = Some(Arc::new(rendered));
                                        act.start_attempt(item, ctx);
                                    }
                                    Err(e) => act.transform_failed(item, e, ctx),
                                }
                            }
                        }
                        // The pool is gone (shutdown) or answered oddly: try these later.
                        _ => {
                            for item in items {
                                act.queue.finish(item, Some(Instant::now() + POOL_RETRY));
                            }
                            act.pump(ctx);
                        }
                    }
                    act.run_transforms(ctx);
                }),
        );
    }

    /// Current secrets plus rotated-out ones still in their grace period.
    pub(super) fn active_keys(&self, now_ms: u64) -> std::borrow::Cow<'_, [Vec<u8>]> {
        outgoing::active_keys(
            &self.record.spec,
            &self.keys,
            &self.record.retiring_secrets,
            now_ms,
        )
    }

    fn transform_failed(&mut self, item: Item, e: TransformError, ctx: &mut Context<Self>) {
        self.settle(
            item,
            dead(format!("transform failed ({}): {e}", e.kind()), None),
            ctx,
        );
    }

    fn send_attempt(&mut self, item: Item, event: Arc<EventInfo>, ctx: &mut Context<Self>) {
        let spec = &self.record.spec;
        let attempt = item.attempts + 1;
        let started_ms = now_ms();
        let Outgoing {
            method,
            url,
            headers,
            body,
        } = outgoing::build(
            spec,
            &self.active_keys(started_ms),
            &event,
            item.rendered.as_deref(),
            attempt,
            started_ms,
        );
        // A child of the publish span when it lives in this process (not after a restart).
        let span = tracing::info_span!(
            parent: event.span.as_ref().and_then(tracing::Span::id),
            "hookbus.attempt",
            endpoint = %self.name(),
            delivery = %item.delivery_id,
            attempt,
            status = tracing::field::Empty
        );
        let refused = self.literal.refusal(&self.guard, &url);
        let guard = self.guard.clone();
        let client = self
            .client
            .get_or_insert_with(|| deliver::client(&guard))
            .clone();
        let timeout = spec.timeout.get();
        // `spawn`, not `wait`: other messages and attempts proceed while this one is in flight.
        let recorded = span.clone();
        let ticket = item.ticket;
        let sending = ctx.spawn(
            tracing::Instrument::instrument(
                async move {
                    deliver::send(&client, refused, method, &url, &headers, body, timeout).await
                },
                span,
            )
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.sending.remove(&ticket);
                if let Some(code) = result.outcome.status_and_error().0 {
                    recorded.record("status", code);
                }
                act.finish_attempt(item, result, started_ms, ctx)
            }),
        );
        self.sending.insert(ticket, sending);
    }

    /// Let go of a taken delivery without an outcome: this node no longer
    /// drives the endpoint, and the next owner reads it from the store.
    fn abandon(&mut self, ticket: u128) {
        self.queue.let_go(ticket);
        self.breaker.release();
    }

    /// Stop every attempt of this node: cancel the requests on the wire
    /// (dropping them closes their connections) and let go of deliveries
    /// waiting for the script. None gets an outcome here; the node that
    /// drives the endpoint next sends them again, with the same
    /// `webhook-id`, so this node's attempts cannot overlap its attempts.
    pub(super) fn abandon_in_flight(&mut self, ctx: &mut Context<Self>) -> usize {
        let mut n = 0;
        for (ticket, handle) in std::mem::take(&mut self.sending) {
            ctx.cancel_future(handle);
            self.abandon(ticket);
            n += 1;
        }
        for item in std::mem::take(&mut self.transform_waiting) {
            self.abandon(item.ticket);
            n += 1;
        }
        n
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
        // An Arc, not the spec: attempts are a hot path and the spec is large.
        let record = self.record.clone();
        let spec = &record.spec;
        let decision = classify::classify(&result.outcome, &spec.success_codes, SystemTime::now());
        let transition = if classify::is_receiver_failure(&decision) {
            self.breaker.on_failure(now)
        } else {
            self.breaker.on_success(now)
        };
        match transition {
            Some(Transition::Opened) => {
                CircuitChanged {
                    endpoint: &record.label(),
                    state: BreakerState::Open,
                }
                .emit();
                self.operational("hookbus.endpoint.circuit_opened", serde_json::json!({}));
            }
            Some(Transition::Closed) => {
                CircuitChanged {
                    endpoint: &record.label(),
                    state: BreakerState::Closed,
                }
                .emit();
                self.operational("hookbus.endpoint.circuit_closed", serde_json::json!({}));
            }
            None => {}
        }
        // What the outcome does (pure; see verdict.rs): this actor only carries it out.
        let verdict = verdict::after_attempt(&verdict::Attempted {
            outcome: &result.outcome,
            success_codes: &spec.success_codes,
            retry: &spec.retry,
            disable_after: spec.disable_after.get(),
            attempt,
            budget_start: item.budget_start,
            last_delay: item.last_delay,
            failing_since: self.stats.failing_since(),
            started_ms,
            now_ms: now_ms(),
            now: SystemTime::now(),
            rand01: rand::rng().random::<f64>(),
        });
        self.stats.set_failing_since(verdict.failing_since);
        if let Some(reason) = verdict.disable {
            self.disable(reason);
        }
        let label = classify::result_label(&result.outcome);
        AttemptFinished {
            endpoint: self.series(),
            result: label,
            elapsed: result.latency,
            attempt,
            delivery_id: &item.delivery_id,
        }
        .emit();
        let record = result.record(attempt, started_ms, &decision);
        let settle = match verdict.fate {
            verdict::Fate::Delivered => Settle {
                status: DeliveryStatus::Delivered,
                outcome: DeliveryOutcome::Success,
                reason: None,
                retry_at: None,
                attempt: Some(record),
            },
            verdict::Fate::Retry { delay, reason } => {
                item.last_delay = Some(delay);
                Settle {
                    status: DeliveryStatus::Failed,
                    outcome: DeliveryOutcome::Failed,
                    reason: Some(reason),
                    retry_at: Some(now + delay),
                    attempt: Some(record),
                }
            }
            verdict::Fate::Dead { reason } => dead(reason, Some(record)),
        };
        self.settle(item, settle, ctx);
    }
}
