//! The committer thread: how a group forms, where it goes, who is answered.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rocksdb::{WriteBatch, WriteOptions};
use tokio::sync::oneshot;

use crate::store::StoreError;
use crate::store::lifetime::Db;
use crate::store::op::Op;
use crate::telemetry;

/// Where a group of writes goes. Called on the committer thread only.
pub(crate) trait Sink {
    /// Write every unit (one request's ops, all or none of each) in order;
    /// `sync`: a durable request is in the group.
    fn write(&mut self, units: &[&[Op]], sync: bool) -> Result<(), String>;
}

/// The embedded sink: one RocksDB `WriteBatch` per group, fsynced when a
/// durable request is in it (and durability is `fsync`).
struct Rocks {
    db: Weak<Db>,
    synced: WriteOptions,
    unsynced: WriteOptions,
}

impl Sink for Rocks {
    fn write(&mut self, units: &[&[Op]], sync: bool) -> Result<(), String> {
        let Some(db) = self.db.upgrade() else {
            return Err("the store is closed".to_string());
        };
        let mut batch = WriteBatch::default();
        for op in units.iter().flat_map(|u| u.iter()) {
            op.apply(&db, &mut batch);
        }
        let opts = if sync { &self.synced } else { &self.unsynced };
        db.write_opt(batch, opts).map_err(|e| e.into_string())
    }
}

/// The embedded sink for `db`; `sync`: fsync groups with a durable request
/// (the configured durability).
pub(super) fn rocks(db: Weak<Db>, sync: bool) -> Box<dyn Sink> {
    let mut synced = WriteOptions::new();
    synced.set_sync(sync);
    let mut unsynced = WriteOptions::new();
    unsynced.set_sync(false);
    Box::new(Rocks {
        db,
        synced,
        unsynced,
    })
}

/// Upper bound on requests merged into one group, so one huge group cannot
/// delay the first publisher's acknowledgement without limit.
const MAX_GROUP: usize = 1024;

/// Longest a durable group waits for publishes announced as coming: a
/// sibling normally arrives within tens of microseconds (it is being
/// planned on the bus thread); one that does not (its thread preempted, a
/// slow idempotency read) must not hold the others' acknowledgements.
pub(super) const MAX_SIBLING_WAIT: Duration = Duration::from_micros(500);

/// How often a waiting group looks at the count again when nothing arrives
/// (a sibling that failed validation never arrives; its guard only drops).
const SIBLING_POLL: Duration = Duration::from_micros(100);

/// Who learns a request's result.
pub(crate) enum Done {
    /// A future waiting on another thread.
    Wait(oneshot::Sender<Result<(), String>>),
    /// Run here, on the committer thread, right after the write. For a
    /// caller whose next steps are only messages to other threads (a
    /// publish answering its publisher and handing its deliveries to
    /// endpoint actors): no thread is woken just to pass the result on.
    /// It must be short and must not block: the next group waits for it.
    Then(Box<dyn FnOnce(Result<(), StoreError>) + Send>),
}

impl Done {
    fn tell(self, result: Result<(), String>) {
        match self {
            // A publisher that gave up waiting is not an error here.
            Done::Wait(tx) => {
                let _ = tx.send(result);
            }
            Done::Then(f) => {
                // A panic here would end the thread every write goes through.
                let run =
                    std::panic::AssertUnwindSafe(move || f(result.map_err(StoreError::Write)));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("A commit's follow-up panicked; its caller is not answered.");
                }
            }
        }
    }
}

/// One caller's writes, all or none.
pub(super) struct Request {
    pub(super) ops: Vec<Op>,
    /// Needs an fsync (per the configured durability) before it is answered.
    pub(super) durable: bool,
    /// Its place in the order of requests (see [`super::Written`]).
    pub(super) seq: u64,
    /// Who learns the result; none for a request handed over unawaited.
    pub(super) done: Option<Done>,
    /// Its publish's announcement, released as the committer takes it (so
    /// the count never says "none coming" while it is still on its way).
    pub(super) coming: Option<super::Coming>,
}

/// What the thread shares with the handles.
pub(super) struct State {
    pub(super) writable: Arc<AtomicBool>,
    pub(super) fail_next: Arc<AtomicUsize>,
    pub(super) written: Arc<AtomicU64>,
    pub(super) coming: Arc<AtomicUsize>,
    pub(super) max_wait: Duration,
}

/// Add to `group` what is queued, then, if it holds a durable request,
/// what is announced as coming, until none is or `max_wait` has passed.
fn gather(
    rx: &mpsc::Receiver<Request>,
    group: &mut Vec<Request>,
    coming: &AtomicUsize,
    max_wait: Duration,
) {
    let take = |group: &mut Vec<Request>, mut r: Request| {
        drop(r.coming.take());
        group.push(r);
    };
    let drain = |group: &mut Vec<Request>| {
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => take(group, r),
                Err(_) => break,
            }
        }
    };
    if let Some(first) = group.first_mut() {
        drop(first.coming.take());
    }
    drain(group);
    if !group.iter().any(|r| r.durable) {
        return;
    }
    let deadline = Instant::now() + max_wait;
    while group.len() < MAX_GROUP && coming.load(Ordering::Acquire) > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match rx.recv_timeout(SIBLING_POLL.min(deadline - now)) {
            Ok(r) => {
                take(group, r);
                drain(group);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// The thread: gather a group, write it, answer everyone in it.
pub(super) fn run(sink: &mut dyn Sink, rx: &mpsc::Receiver<Request>, state: &State) {
    let State {
        writable,
        fail_next,
        written,
        coming,
        max_wait,
    } = state;
    let mut group = Vec::with_capacity(64);
    while let Ok(first) = rx.recv() {
        group.push(first);
        gather(rx, &mut group, coming, *max_wait);
        let started = Instant::now();
        let durable = group.iter().any(|r| r.durable);
        // The failpoint stands for a failed publish commit: it takes the
        // group's durable requests; outcomes riding along are written.
        let injected = durable
            && fail_next
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
        let units: Vec<&[Op]> = group
            .iter()
            .filter(|r| !(injected && r.durable))
            .map(|r| r.ops.as_slice())
            .collect();
        let result = sink.write(&units, durable && !injected);
        drop(units);
        writable.store(result.is_ok() && !injected, Ordering::Relaxed);
        // The commit histogram is the publish path's: outcome-only groups
        // (no fsync) would only dilute it.
        if durable {
            telemetry::StoreCommitted {
                elapsed: started.elapsed(),
                group: group.len(),
            }
            .emit();
        }
        if let Some(last) = group.last() {
            written.store(last.seq, Ordering::Release);
        }
        if let Err(e) = &result {
            let unawaited = group.iter().filter(|r| r.done.is_none()).count();
            if unawaited > 0 {
                tracing::error!(error = %e, unawaited,
                    "Cannot record delivery outcomes; those deliveries will be attempted again.");
            }
        }
        // In queue order: a publish's follow-up hands its deliveries to
        // endpoint actors in the order the publishes were committed.
        for req in group.drain(..) {
            if let Some(done) = req.done {
                let answer = if injected && req.durable {
                    Err("injected failure (fail_next_commits)".to_string())
                } else {
                    result.clone()
                };
                done.tell(answer);
            }
        }
    }
}
