//! The transform pool: threads that run endpoints' scripts, sharing the CPU
//! fairly between endpoints ([`super::cpu`]).
//!
//! Why a pool and not the endpoint actor's thread: a script may spend its
//! whole budget; on a delivery thread that would stall every other endpoint
//! there. Endpoints without a script never come here. Each endpoint has at
//! most one batch here at a time (its actor waits for the answer), and the
//! pool has more threads than CPU shares, so an endpoint's batch starts at
//! once and competes for a share run by run, not behind other endpoints'
//! whole batches.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rhai::Engine;
use tokio::sync::oneshot;

use super::context::{self, RunContext};
use super::cpu::CpuShare;
use super::event_info::EventInfo;
use super::run::{self, Rendered};
use super::{Compiled, TransformError};
use crate::store::records::EndpointRecord;
use crate::telemetry::TransformRan;

/// Run an endpoint's transform for a batch of deliveries (whatever queued
/// up while its previous batch ran: one thread hand-off per batch, not per
/// delivery).
pub struct RunTransform {
    /// The endpoint's compiled script.
    pub compiled: Arc<Compiled>,
    /// The events, in order (each converted to a script value once, whoever asks first).
    pub events: Vec<Arc<EventInfo>>,
    /// The endpoint (method, URL, headers, name).
    pub record: Arc<EndpointRecord>,
}

/// The answer to a [`RunTransform`]: one result per event, in order. An
/// error means the pool is gone (shutdown).
pub type Reply = oneshot::Receiver<Vec<Result<Rendered, TransformError>>>;

/// How the pool runs scripts.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Scripts running at once (`transforms.workers`).
    pub shares: usize,
    /// Threads: endpoints whose batches run at once.
    pub threads: usize,
    /// `transforms.max_output_bytes`.
    pub max_output: usize,
    /// `transforms.max_run_time`.
    pub max_run_time: Duration,
}

impl PoolSettings {
    /// Threads for `shares` CPU shares: enough that several expensive
    /// endpoints at once still leave a thread for the next endpoint.
    pub fn threads_for(shares: usize) -> usize {
        (shares * 4).max(8)
    }
}

/// A handle to the pool; clones share it, and the threads end when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Pool {
    owner: Arc<Owner>,
}

struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.ready.notify_all();
    }
}

struct Job {
    msg: RunTransform,
    reply: oneshot::Sender<Vec<Result<Rendered, TransformError>>>,
}

struct Shared {
    engine: Arc<Engine>,
    settings: PoolSettings,
    shares: Arc<CpuShare>,
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    closed: AtomicBool,
}

impl Pool {
    /// Start the pool's threads.
    pub fn start(engine: Arc<Engine>, settings: PoolSettings) -> Self {
        let shared = Arc::new(Shared {
            engine,
            settings,
            shares: Arc::new(CpuShare::new(settings.shares)),
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
        });
        for i in 0..settings.threads.max(1) {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hookbus-script-{i}"))
                .spawn(move || shared.work());
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a transform thread");
            }
        }
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// Queue a batch; the reply comes when every event of it has run.
    pub fn send(&self, msg: RunTransform) -> Reply {
        let (tx, rx) = oneshot::channel();
        let shared = &self.owner.shared;
        shared
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Job { msg, reply: tx });
        shared.ready.notify_one();
        rx
    }
}

impl Shared {
    fn work(&self) {
        loop {
            let job = {
                let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if let Some(job) = jobs.pop_front() {
                        break job;
                    }
                    if self.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    jobs = self.ready.wait(jobs).unwrap_or_else(|p| p.into_inner());
                }
            };
            let results = job
                .msg
                .events
                .iter()
                .map(|event| self.run_one(&job.msg, event))
                .collect();
            // The endpoint may be gone meanwhile; nobody to tell then.
            let _ = job.reply.send(results);
        }
    }

    /// One event: wait for a CPU share, run under the deadline, time it.
    fn run_one(&self, msg: &RunTransform, event: &EventInfo) -> Result<Rendered, TransformError> {
        let spec = &msg.record.spec;
        self.shares.acquire();
        let started = Instant::now();
        // Redaction happens before the script sees the event.
        let value = if spec.redact.is_empty() {
            event.dynamic()
        } else {
            super::convert::to_dynamic(&event.redacted(&spec.redact))
        };
        let label = msg.record.label();
        let mut ctx = RunContext::new(&label, self.settings.max_run_time);
        ctx.share = Some(self.shares.clone());
        let (result, _) = context::with(ctx, || {
            run::run(
                &self.engine,
                &msg.compiled,
                value,
                spec,
                self.settings.max_output,
            )
        });
        self.shares.release();
        TransformRan {
            endpoint: &label,
            elapsed: started.elapsed(),
            error: result
                .as_ref()
                .err()
                .map(|e| (e.kind(), e as &dyn std::fmt::Display)),
        }
        .emit();
        result
    }
}
