//! The endpoint test send: one `hookbus.test` event through this endpoint's
//! real pipeline — its format or transform, redaction, every secret still
//! signing, its headers and auth — attempted once, now.
//!
//! It skips the queue, the rate limit and the breaker (an operator probing a
//! paused or failing endpoint wants an answer now), and it changes none of
//! them: no retry, no dead letter, no breaker or `disable_after` effect, not
//! in the stats. It is kept in the endpoint's history as a delivery marked
//! `test`, with its attempt.

use std::sync::Arc;
use std::time::SystemTime;

use actix::prelude::*;

use super::actor::EndpointActor;
use super::attempt::Render;
use super::classify::{self, Decision};
use super::deliver::{self, AttemptResult};
use super::outgoing::{self, Outgoing};
use super::queue::EventInfo;
use crate::event::{Event, PublishRequest};
use crate::ids::{self, now_ms};
use crate::model::ReceiptDelivery;
use crate::store::Changes;
use crate::store::records::{DeliveryRecord, DeliveryStatus};
use crate::transform::Rendered;
use crate::transform::pool::RunTransform;

/// Send `hookbus.test` through the endpoint's pipeline now.
#[derive(Message)]
#[rtype(result = "TestReport")]
pub struct SendTest;

/// What a test send did.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The test event (`webhook-id`).
    pub event_id: String,
    /// Its delivery, in the endpoint's history (marked `test`).
    pub delivery_id: String,
    /// The receiver accepted it.
    pub success: bool,
    /// The transform skipped the event: nothing was sent.
    pub filtered: bool,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Time until the response, ms (0 when nothing was sent).
    pub latency_ms: f64,
    /// Why it failed (transport error, refused status, transform error).
    pub error: Option<String>,
    /// The first 4 KiB of the response.
    pub response_body: String,
}

/// Where the test stands once its body is made.
enum Prepared {
    Send(Outgoing),
    Filtered,
    Failed(String),
}

impl Handler<SendTest> for EndpointActor {
    type Result = ResponseActFuture<Self, TestReport>;

    fn handle(&mut self, _: SendTest, _: &mut Context<Self>) -> Self::Result {
        let event = Event::accept(PublishRequest::new(
            "hookbus.test",
            serde_json::json!({"endpoint_id": self.record.id, "message": "Test event from hookbus."}),
        ));
        let info = Arc::new(EventInfo::new(
            event.id.clone(),
            event.event_type.clone(),
            event.body(),
            now_ms(),
        ));
        let rendering = self.render_now(&info);
        Box::pin(rendering.into_actor(self).then(move |rendered, act, _| {
            let started_ms = now_ms();
            let prepared = match rendered {
                Ok(Some(Rendered::Skip)) => Prepared::Filtered,
                Ok(rendered) => Prepared::Send(outgoing::build(
                    &act.record.spec,
                    &act.active_keys(started_ms),
                    &info,
                    rendered.as_ref(),
                    1,
                    started_ms,
                )),
                Err(reason) => Prepared::Failed(reason),
            };
            let request = match &prepared {
                Prepared::Send(o) => Some(o.clone()),
                _ => None,
            };
            let guard = act.guard.clone();
            let client = act
                .client
                .get_or_insert_with(|| deliver::client(&guard))
                .clone();
            let timeout = act.record.spec.timeout.get();
            async move {
                match request {
                    Some(o) => Some(
                        deliver::send(
                            &client,
                            deliver::literal_refusal(&guard, &o.url),
                            o.method,
                            &o.url,
                            &o.headers,
                            o.body,
                            timeout,
                        )
                        .await,
                    ),
                    None => None,
                }
            }
            .into_actor(act)
            .then(move |sent, act, _| {
                let (report, written) = act.record_test(&info, prepared, sent, started_ms);
                let endpoint = act.label_owned();
                // Answered once the history has it, so a read right after finds it.
                async move {
                    if let Err(e) = written.await {
                        // The answer still says what the receiver did; only the history misses it.
                        tracing::error!(%endpoint, error = %e,
                            "Cannot keep the test send in the endpoint's history.");
                    }
                    report
                }
                .into_actor(act)
            })
        }))
    }
}

impl EndpointActor {
    /// The test event's body, made now (on the pool when there is a script).
    fn render_now(
        &self,
        info: &Arc<EventInfo>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<Rendered>, String>>>> {
        match self.render_plan(info) {
            Render::AsIs => Box::pin(std::future::ready(Ok(None))),
            Render::Ready(r) => Box::pin(std::future::ready(Ok(Some(r)))),
            Render::Failed(e) => Box::pin(std::future::ready(Err(transform_error(&e)))),
            Render::Script(compiled) => {
                let run = self.pool.send(RunTransform {
                    compiled,
                    events: vec![info.clone()],
                    record: self.record.clone(),
                });
                Box::pin(async move {
                    match run.await.map(|mut r| r.pop()) {
                        Ok(Some(Ok(rendered))) => Ok(Some(rendered)),
                        Ok(Some(Err(e))) => Err(transform_error(&e)),
                        _ => Err("the transform pool is not running (shutting down)".into()),
                    }
                })
            }
        }
    }

    /// Keep the test in the endpoint's history and say what happened.
    fn record_test(
        &self,
        info: &EventInfo,
        prepared: Prepared,
        sent: Option<AttemptResult>,
        started_ms: u64,
    ) -> (
        TestReport,
        impl std::future::Future<Output = Result<(), crate::store::StoreError>> + use<>,
    ) {
        let delivery_id = ids::delivery_id();
        let mut report = TestReport {
            event_id: info.id.clone(),
            delivery_id: delivery_id.clone(),
            success: false,
            filtered: false,
            status_code: None,
            latency_ms: 0.0,
            error: None,
            response_body: String::new(),
        };
        let mut attempt = None;
        let status = match (prepared, sent) {
            (Prepared::Filtered, _) => {
                report.filtered = true;
                report.error = Some("the transform skipped this event: nothing was sent".into());
                DeliveryStatus::Filtered
            }
            (Prepared::Failed(reason), _) => {
                report.error = Some(reason);
                DeliveryStatus::Dead
            }
            (Prepared::Send(_), Some(result)) => {
                let decision = classify::classify(
                    &result.outcome,
                    &self.record.spec.success_codes,
                    SystemTime::now(),
                );
                let record = result.record(1, started_ms, &decision);
                report.success = decision == Decision::Success;
                report.status_code = record.status_code;
                report.latency_ms = record.latency_ms;
                report.error = record.error.clone();
                report.response_body = record.response_body.clone();
                attempt = Some(record);
                if report.success {
                    DeliveryStatus::Delivered
                } else {
                    DeliveryStatus::Dead
                }
            }
            (Prepared::Send(_), None) => DeliveryStatus::Dead,
        };
        let now = now_ms();
        let delivery = DeliveryRecord {
            id: delivery_id.clone(),
            event_id: info.id.clone(),
            endpoint_id: self.record.id.clone(),
            app: self.record.app.clone(),
            status,
            attempts: u32::from(attempt.is_some()),
            created_at: started_ms,
            updated_at: now,
            next_attempt_at: None,
            last_delay_ms: None,
            last_error: report.error.clone().filter(|_| !report.filtered),
            ticket: 0,
            budget_start: 0,
            queued_at: started_ms,
            test: true,
        };
        let mut changes = Changes::new();
        changes.event(
            &info.id,
            info.accepted_ms,
            &info.body,
            &[ReceiptDelivery {
                id: delivery_id,
                endpoint_id: self.record.id.clone(),
            }],
            None,
            &self.record.app,
        );
        changes.finished(&delivery);
        if let Some(a) = &attempt {
            changes.attempt(&delivery.id, a);
        }
        // Written on the committer thread, not this one.
        (report, self.store.record(changes))
    }
}

fn transform_error(e: &crate::transform::TransformError) -> String {
    format!("transform failed ({}): {e}", e.kind())
}
