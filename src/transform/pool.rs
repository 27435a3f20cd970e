//! The transform worker pool: a `SyncArbiter` of threads sharing the engine.
//!
//! Why a pool and not the endpoint actor's thread: a script may spend its
//! whole operation budget; on a delivery thread that would stall every other
//! endpoint there. Endpoints without a script never come here.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use rhai::Engine;

use super::event_info::EventInfo;
use super::run::{self, Rendered};
use super::{Compiled, TransformError};
use crate::store::records::EndpointRecord;
use crate::telemetry::TransformRan;

/// One worker thread.
pub struct TransformWorker {
    engine: Arc<Engine>,
    max_output: usize,
}

impl Actor for TransformWorker {
    type Context = SyncContext<Self>;
}

/// Run an endpoint's transform for a batch of deliveries (whatever queued
/// up while its previous batch ran: one thread hand-off per batch, not per
/// delivery).
#[derive(Message)]
#[rtype(result = "Vec<Result<Rendered, TransformError>>")]
pub struct RunTransform {
    /// The endpoint's compiled script.
    pub compiled: Arc<Compiled>,
    /// The events, in order (each converted to a script value once, whoever asks first).
    pub events: Vec<Arc<EventInfo>>,
    /// The endpoint (method, URL, headers, name).
    pub record: Arc<EndpointRecord>,
}

impl Handler<RunTransform> for TransformWorker {
    type Result = Vec<Result<Rendered, TransformError>>;

    /// Run the script for each event and time each run.
    fn handle(&mut self, msg: RunTransform, _: &mut SyncContext<Self>) -> Self::Result {
        let spec = &msg.record.spec;
        msg.events
            .iter()
            .map(|event| {
                let started = Instant::now();
                // Redaction happens before the script sees the event.
                let value = if spec.redact.is_empty() {
                    event.dynamic()
                } else {
                    crate::transform::convert::to_dynamic(&event.redacted(&spec.redact))
                };
                let result = run::run(&self.engine, &msg.compiled, value, spec, self.max_output);
                TransformRan {
                    endpoint: &spec.name,
                    elapsed: started.elapsed(),
                    error: result
                        .as_ref()
                        .err()
                        .map(|e| (e.kind(), e as &dyn std::fmt::Display)),
                }
                .emit();
                result
            })
            .collect()
    }
}

/// Start `workers` threads.
pub fn start(engine: Arc<Engine>, workers: usize, max_output: usize) -> Addr<TransformWorker> {
    SyncArbiter::start(workers.max(1), move || TransformWorker {
        engine: engine.clone(),
        max_output,
    })
}
