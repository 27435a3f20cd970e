//! One delivery's way through the endpoint actor: transform (on the pool),
//! HTTP attempt (on this thread), classification, and settling the outcome
//! in the store, the queue, the breaker and the telemetry.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use rand::Rng;

use super::actor::EndpointActor;
use super::breaker::{State as BreakerState, Transition};
use super::classify::{self, Decision};
use super::deliver::{self, AttemptInput, AttemptResult};
use super::messages::ToBus;
use super::queue::{EventInfo, Item};
use super::verdict;
use crate::endpoint::spec::Status;
use crate::ids::now_ms;
use crate::store::records::{AttemptRecord, DeadLetter, DeliveryStatus};
use crate::store::{Cf, Op, keys};
use crate::telemetry::{AttemptFinished, CircuitChanged, DeliveryFinished, DeliveryOutcome};
use crate::transform::pool::RunTransform;
use crate::transform::{Rendered, TransformError};

/// Most deliveries in one hand-off to the transform pool.
const MAX_TRANSFORM_BATCH: usize = 64;

/// When the transform pool cannot take work (shutting down), try again after this.
const POOL_RETRY: Duration = Duration::from_secs(1);

/// How a delivery ends up after one step.
struct Settle {
    status: DeliveryStatus,
    outcome: DeliveryOutcome,
    reason: Option<String>,
    retry_at: Option<Instant>,
    attempt: Option<AttemptRecord>,
}

impl EndpointActor {
    fn event_info(&self, event_id: &str) -> Option<Arc<EventInfo>> {
        let stored = self.store.event(event_id).ok().flatten()?;
        let accepted_ms = stored.event.accepted_ms().unwrap_or(0);
        Some(Arc::new(
            EventInfo::new(
                stored.event.id.clone(),
                stored.event.event_type.clone(),
                stored.event.body(),
                accepted_ms,
            )
            .with_trace(stored.traceparent.clone(), None),
        ))
    }

    /// Begin a taken delivery: load its event, run its transform once, then send.
    pub(super) fn start_attempt(&mut self, mut item: Item, ctx: &mut Context<Self>) {
        if item.event.is_none() {
            item.event = self.event_info(&item.event_id);
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
            match &self.transform {
                None if !self.record.spec.redact.is_empty() => {
                    // Rendered once, so every retry sends (and signs) identical bytes.
                    let body = serde_json::to_vec(&event.redacted(&self.record.spec.redact))
                        .unwrap_or_default();
                    item.rendered =
                        Some(Arc::new(Rendered::Send(crate::transform::run::Request {
                            body: body.into(),
                            content_type: "application/json".into(),
                            headers: Vec::new(),
                            method: None,
                            url: None,
                        })));
                }
                None => {}
                Some(Err(e)) => return self.transform_failed(item, e.clone(), ctx),
                Some(Ok(_)) => {
                    self.transform_waiting.push_back(item);
                    return self.run_transforms(ctx);
                }
            }
        }
        self.send_attempt(item, event, ctx);
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
    fn active_keys(&self, now_ms: u64) -> std::borrow::Cow<'_, [Vec<u8>]> {
        let retiring = &self.record.retiring_secrets;
        if retiring.iter().all(|s| s.expires_at <= now_ms) {
            return std::borrow::Cow::Borrowed(&self.keys);
        }
        let scheme = self.record.spec.signing.scheme;
        let mut keys = self.keys.clone();
        keys.extend(
            retiring
                .iter()
                .filter(|s| s.expires_at > now_ms)
                .filter_map(|s| crate::sign::key_bytes(scheme, &s.secret).ok()),
        );
        std::borrow::Cow::Owned(keys)
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
        let (mut method, mut url) = (spec.method, spec.url.clone());
        let (mut body, mut content_type, mut extra) = (
            event.body.clone(),
            "application/json".to_string(),
            Vec::new(),
        );
        if let Some(Rendered::Send(req)) = item.rendered.as_deref() {
            body = req.body.clone();
            content_type = req.content_type.clone();
            extra = req.headers.clone();
            method = req.method.unwrap_or(method);
            url = req.url.clone().unwrap_or(url);
        }
        let attempt = item.attempts + 1;
        let started_ms = now_ms();
        let keys = self.active_keys(started_ms);
        let mut headers = deliver::headers(
            spec,
            &keys,
            &AttemptInput {
                event_id: &event.id,
                event_type: &event.event_type,
                attempt,
                timestamp: (started_ms / 1000) as i64,
                body: &body,
                content_type: &content_type,
            },
        );
        // A handler script's headers replace the endpoint's of the same name.
        for (k, v) in extra {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
            headers.push((k, v));
        }
        if let (Some(tp), true) = (&event.traceparent, spec.propagate_trace) {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case("traceparent"));
            headers.push(("traceparent".into(), tp.clone()));
        }
        // A child of the publish span when it lives in this process (not after a restart).
        let span = tracing::info_span!(
            parent: event.span.as_ref().and_then(tracing::Span::id),
            "hookbus.attempt",
            endpoint = %spec.name,
            delivery = %item.delivery_id,
            attempt,
            status = tracing::field::Empty
        );
        let guard = self.guard.clone();
        let client = self
            .client
            .get_or_insert_with(|| deliver::client(&guard))
            .clone();
        let timeout = spec.timeout.get();
        // `spawn`, not `wait`: other messages and attempts proceed while this one is in flight.
        let recorded = span.clone();
        ctx.spawn(
            tracing::Instrument::instrument(
                async move {
                    deliver::send(&client, &guard, method, &url, &headers, body, timeout).await
                },
                span,
            )
            .into_actor(self)
            .map(move |result, act, ctx| {
                if let Some(code) = result.outcome.status_and_error().0 {
                    recorded.record("status", code);
                }
                act.finish_attempt(item, result, started_ms, ctx)
            }),
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
        let spec = self.record.spec.clone();
        let decision = classify::classify(&result.outcome, &spec.success_codes, SystemTime::now());
        let transition = if classify::is_receiver_failure(&decision) {
            self.breaker.on_failure(now)
        } else {
            self.breaker.on_success(now)
        };
        match transition {
            Some(Transition::Opened) => {
                CircuitChanged {
                    endpoint: &spec.name,
                    state: BreakerState::Open,
                }
                .emit();
                self.operational("hookbus.endpoint.circuit_opened", serde_json::json!({}));
            }
            Some(Transition::Closed) => {
                CircuitChanged {
                    endpoint: &spec.name,
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
            failing_since: self.failing_since,
            started_ms,
            now_ms: now_ms(),
            now: SystemTime::now(),
            rand01: rand::rng().random::<f64>(),
        });
        self.failing_since = verdict.failing_since;
        if let Some(reason) = verdict.disable {
            self.disable(reason);
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
        let (status_code, error) = result.outcome.status_and_error();
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

    /// Write the outcome (one atomic, unsynced batch), update stats and
    /// telemetry, return the item to the queue if it will be retried, pump.
    fn settle(&mut self, item: Item, s: Settle, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut ops = Vec::new();
        if let Some(a) = &s.attempt {
            ops.push(Op::put_json(
                Cf::Attempts,
                keys::attempt(&item.delivery_id, a.attempt),
                a,
            ));
            self.stats.attempt(
                a.attempt,
                a.latency_ms,
                s.status == DeliveryStatus::Delivered,
                now_ms(),
            );
        }
        let next_attempt_at = s
            .retry_at
            .map(|at| now_ms() + at.saturating_duration_since(now).as_millis() as u64);
        match self.store.delivery(&item.delivery_id) {
            Ok(Some(mut d)) => {
                d.status = s.status;
                d.attempts = item.attempts;
                d.updated_at = now_ms();
                d.last_error = s.reason.clone();
                d.next_attempt_at = next_attempt_at;
                d.last_delay_ms = item.last_delay.map(|l| l.as_millis() as u64);
                ops.push(Op::put_json(Cf::Deliveries, d.id.as_bytes(), &d));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(delivery = %item.delivery_id, error = %e, "Cannot read delivery.")
            }
        }
        match s.status {
            DeliveryStatus::Delivered => self.stats.delivered(),
            DeliveryStatus::Failed => self.stats.failed(),
            DeliveryStatus::Dead => {
                self.stats.dead();
                self.dead_letters += 1;
            }
            DeliveryStatus::Filtered => self.stats.filtered(),
            DeliveryStatus::Pending => {}
        }
        if s.status != DeliveryStatus::Failed {
            ops.push(Op::Delete(
                Cf::Queue,
                keys::queue(&self.record.id, item.ticket),
            ));
            self.depth = self.depth.saturating_sub(1);
        }
        if s.status == DeliveryStatus::Dead {
            let dl = DeadLetter {
                delivery_id: item.delivery_id.clone(),
                endpoint_id: self.record.id.clone(),
                event_id: item.event_id.clone(),
                reason: s.reason.clone().unwrap_or_default(),
                attempts: item.attempts,
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
            tracing::error!(endpoint = %self.record.spec.name, delivery = %item.delivery_id, error = %e,
                "Cannot record the outcome; the delivery will be retried.");
        }
        let end_to_end = (s.outcome == DeliveryOutcome::Success)
            .then(|| {
                item.event
                    .as_ref()
                    .map(|e| Duration::from_millis(now_ms().saturating_sub(e.accepted_ms)))
            })
            .flatten();
        // Operational events about operational deliveries would feed on themselves.
        let operational_delivery = item
            .event
            .as_ref()
            .is_some_and(|e| crate::event::is_reserved_type(&e.event_type));
        let fate = match s.status {
            DeliveryStatus::Dead => Some(verdict::Fate::Dead {
                reason: s.reason.clone().unwrap_or_default(),
            }),
            DeliveryStatus::Delivered => Some(verdict::Fate::Delivered),
            _ => None,
        };
        let announced = fate.as_ref().and_then(|f| {
            verdict::announcement(f, item.attempts, item.budget_start, operational_delivery)
        });
        if let Some(event_type) = announced {
            let mut data =
                serde_json::json!({"delivery_id": item.delivery_id, "event_id": item.event_id});
            if s.status == DeliveryStatus::Dead {
                data["reason"] = serde_json::json!(s.reason);
            } else {
                data["attempts"] = serde_json::json!(item.attempts);
            }
            self.operational(event_type, data);
        }
        DeliveryFinished {
            endpoint: &self.record.spec.name,
            outcome: s.outcome,
            end_to_end,
            delivery_id: &item.delivery_id,
            attempt: item.attempts,
            reason: s.reason.as_deref(),
            next_attempt_at,
        }
        .emit();
        self.tell_host(&item, &s, next_attempt_at);
        self.queue.finish(item, s.retry_at);
        self.gauges();
        self.pump(ctx);
    }

    /// Hand the outcome to the host's subscribers; never waits (broadcast).
    fn tell_host(&self, item: &Item, s: &Settle, next_attempt_at: Option<u64>) {
        use crate::outcomes::{Outcome, OutcomeKind};
        let Some(tx) = &self.outcomes else { return };
        // Nobody listening is the common case: skip building the value.
        if tx.receiver_count() == 0 {
            return;
        }
        let kind = match s.status {
            DeliveryStatus::Delivered => OutcomeKind::Delivered,
            DeliveryStatus::Failed => OutcomeKind::RetryScheduled,
            DeliveryStatus::Dead => OutcomeKind::DeadLettered,
            DeliveryStatus::Filtered => OutcomeKind::Filtered,
            DeliveryStatus::Pending => return,
        };
        let _ = tx.send(Outcome {
            kind,
            endpoint: self.record.spec.name.clone(),
            endpoint_id: self.record.id.clone(),
            delivery_id: item.delivery_id.clone(),
            event_id: item.event_id.clone(),
            event_type: item.event.as_ref().map(|e| e.event_type.clone()),
            attempt: item.attempts,
            status: s.attempt.as_ref().and_then(|a| a.status_code),
            error: s.reason.clone(),
            latency: s
                .attempt
                .as_ref()
                .map(|a| Duration::from_secs_f64(a.latency_ms / 1000.0)),
            next_attempt_at,
        });
    }
}

impl EndpointActor {
    /// Publish an operational event about this endpoint (never delivered to it).
    fn operational(&self, event_type: &str, mut data: serde_json::Value) {
        let Some(bus) = &self.bus else { return };
        data["endpoint_id"] = serde_json::json!(self.record.id);
        data["endpoint"] = serde_json::json!(self.record.spec.name);
        let event = crate::PublishRequest::new(event_type, data);
        // do_send: fire and forget; the bus commits it like any publish.
        bus.do_send(ToBus::Announce {
            event,
            about: self.record.id.clone(),
        });
    }

    /// Disable this endpoint: stop attempting now, persist through the bus, announce it.
    fn disable(&mut self, reason: String) {
        if self.record.spec.status == Status::Disabled {
            return;
        }
        tracing::warn!(endpoint = %self.record.spec.name, %reason, "Endpoint disabled.");
        let mut record = (*self.record).clone();
        record.spec.status = Status::Disabled;
        let spec = record.spec.clone();
        // Effective at once here; the bus's Reconfigure (next version) confirms it.
        self.record = Arc::new(record);
        if let Some(bus) = &self.bus {
            bus.do_send(ToBus::Save {
                endpoint_id: self.record.id.clone(),
                spec: Box::new(spec),
            });
        }
        self.operational(
            "hookbus.endpoint.disabled",
            serde_json::json!({"reason": reason}),
        );
        self.gauges();
    }
}

fn dead(reason: String, attempt: Option<AttemptRecord>) -> Settle {
    Settle {
        status: DeliveryStatus::Dead,
        outcome: DeliveryOutcome::Dead,
        reason: Some(reason),
        retry_at: None,
        attempt,
    }
}

fn filtered() -> Settle {
    Settle {
        status: DeliveryStatus::Filtered,
        outcome: DeliveryOutcome::Filtered,
        reason: None,
        retry_at: None,
        attempt: None,
    }
}
