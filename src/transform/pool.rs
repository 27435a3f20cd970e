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
//!
//! A batch goes to the thread that went idle last (its caches still hold
//! the engine, the script and the allocator's pages), not to whichever the
//! OS wakes first — a condvar wakes the longest sleeper, the coldest. With
//! one endpoint scripting, one thread then does the work: 6–8 % less engine
//! CPU per event than rotating through all eight (docs/BENCHMARKS.md).

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
        // Under the lock: a thread that saw `closed` unset is waiting by now.
        let _state = self.shared.lock();
        for wake in &self.shared.wake {
            wake.notify_all();
        }
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
    state: Mutex<State>,
    /// One per thread, so a batch wakes exactly the thread chosen for it.
    wake: Vec<Condvar>,
    closed: AtomicBool,
}

/// The queue and who is idle, under one lock.
struct State {
    jobs: VecDeque<Job>,
    /// Idle threads, the most recently idle last; a thread leaves it when a
    /// batch is handed to it (a wake-up while still listed is spurious).
    idle: Vec<usize>,
}

impl Pool {
    /// Start the pool's threads.
    pub fn start(engine: Arc<Engine>, settings: PoolSettings) -> Self {
        let threads = settings.threads.max(1);
        let shared = Arc::new(Shared {
            engine,
            settings,
            shares: Arc::new(CpuShare::new(settings.shares)),
            // Every thread listed idle from the start, in a fixed order,
            // whenever each actually starts.
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                idle: (0..threads).collect(),
            }),
            wake: (0..threads).map(|_| Condvar::new()).collect(),
            closed: AtomicBool::new(false),
        });
        for i in 0..threads {
            let worker = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hookbus-script-{i}"))
                .spawn(move || worker.work(i));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a transform thread");
                // Never handed a batch.
                let mut state = shared.lock();
                state.idle.retain(|&t| t != i);
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
        let mut state = shared.lock();
        state.jobs.push_back(Job { msg, reply: tx });
        // None idle: every thread is busy, and the first to finish takes it.
        if let Some(thread) = state.idle.pop() {
            shared.wake[thread].notify_one();
        }
        rx
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Thread `me`: run batches handed to it (or queued while every thread
    /// was busy); between them, wait on the idle stack. A thread listed
    /// idle leaves queued batches to the thread they were handed to.
    fn work(&self, me: usize) {
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if !state.idle.contains(&me) {
                        if let Some(job) = state.jobs.pop_front() {
                            break job;
                        }
                        self.park(&mut state, me);
                    }
                    if self.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    state = self.wake[me].wait(state).unwrap_or_else(|p| p.into_inner());
                }
            };
            let results = job
                .msg
                .events
                .iter()
                .map(|event| self.run_one(&job.msg, event))
                .collect();
            // Idle (on top of the stack) before the answer goes out, so the
            // endpoint's next batch, sent as soon as it has the answer, comes
            // back here; unless batches wait that no idle thread was there for.
            {
                let mut state = self.lock();
                if state.jobs.is_empty() {
                    self.park(&mut state, me);
                }
            }
            // The endpoint may be gone meanwhile; nobody to tell then.
            let _ = job.reply.send(results);
        }
    }

    /// List thread `me` as idle, on top, unless it is listed already.
    fn park(&self, state: &mut State, me: usize) {
        if !state.idle.contains(&me) {
            state.idle.push(me);
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use bytes::Bytes;

    use super::*;
    use crate::model::spec::EndpointSpec;

    fn record() -> Arc<EndpointRecord> {
        Arc::new(EndpointRecord {
            id: "ep_1".into(),
            app: crate::model::app::default_id(),
            app_uid: String::new(),
            spec: EndpointSpec::new("a", "http://h/", &[]),
            created_at: 0,
            updated_at: 0,
            version: 1,
            retiring_secrets: vec![],
            applied: None,
        })
    }

    /// Which pool thread ran the script, for each of `batches` batches sent
    /// one after another (each waited for).
    fn threads_used(threads: usize, batches: usize) -> HashSet<String> {
        let mut engine = Engine::new();
        engine.register_fn("pool_thread", || {
            std::thread::current().name().unwrap_or("").to_string()
        });
        let engine = Arc::new(engine);
        let pool = Pool::start(
            engine.clone(),
            PoolSettings {
                shares: 1,
                threads,
                max_output: 1 << 20,
                max_run_time: Duration::from_secs(5),
            },
        );
        let compiled = crate::transform::script::compile(
            &engine,
            "fn transform(event) { #{t: pool_thread()} }",
            BTreeMap::new(),
        )
        .unwrap();
        let mut seen = HashSet::new();
        for i in 0..batches {
            let event = EventInfo::new(
                format!("evt_{i}"),
                "a.b".into(),
                Bytes::from_static(br#"{"type":"a.b","data":{}}"#),
                0,
            );
            let reply = pool.send(RunTransform {
                compiled: compiled.clone(),
                events: vec![Arc::new(event)],
                record: record(),
            });
            match &reply.blocking_recv().unwrap()[0] {
                Ok(Rendered::Send(req)) => {
                    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                    seen.insert(v["t"].as_str().unwrap().to_owned());
                }
                other => panic!("{other:?}"),
            }
        }
        seen
    }

    #[test]
    fn batches_one_after_another_stay_on_the_threads_that_went_idle_last() {
        // A condvar would hand each batch to the longest-idle thread and
        // rotate through all eight; a thread back on the idle stack before
        // it answers gets the next batch.
        let seen = threads_used(8, 40);
        assert_eq!(seen.len(), 1, "{seen:?}");
    }
}
