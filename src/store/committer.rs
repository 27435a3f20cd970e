//! The group committer: one thread turns every concurrent publish into one
//! RocksDB `WriteBatch` and one fsync, then wakes each publisher.
//!
//! Why a dedicated OS thread: the write blocks on fsync for milliseconds; on
//! an actix arbiter that would stall every actor sharing it. While one group
//! is being synced, new requests pile up in the channel and form the next
//! group, so the fsync cost is shared by everyone who published meanwhile.
//!
//! Delivery outcomes come here too, as *unsynced* requests: the endpoint
//! actors never call RocksDB on their threads (they would wait behind the
//! fsync group and memtable switches, on the threads that run awc). An
//! unsynced request rides in whatever group forms next; a group with no
//! durable request in it is written without fsync. One thread writes
//! everything, so writes land in the order they were queued.
//!
//! Where a group goes is a [`Sink`]: the local RocksDB (embedded mode), or
//! JetStream in cluster mode (the `replica` module), whose answer comes once
//! the rows are replicated and applied to the local cache.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Instant;

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::oneshot;

use super::StoreError;
use super::op::Op;
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
    db: Weak<DB>,
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

/// Upper bound on requests merged into one group, so one huge group cannot
/// delay the first publisher's acknowledgement without limit.
const MAX_GROUP: usize = 1024;

struct Request {
    ops: Vec<Op>,
    /// Needs an fsync (per the configured durability) before it is answered.
    durable: bool,
    /// Its place in the order of requests (see [`Written`]).
    seq: u64,
    /// Who waits for the result; none for a request handed over unawaited.
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// A handed-over write's place in the committer's order: it has been
/// written (or has failed, logged) once [`Committer::is_written`] says so.
/// Checking costs an atomic load, so an actor need not be woken per write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Written(pub(crate) u64);

/// Handle to the committer thread; cloning shares the thread.
#[derive(Clone)]
pub(crate) struct Committer {
    /// The next sequence number with the sender, under one lock, so
    /// numbers are handed out in the channel's order.
    tx: Arc<Mutex<(u64, mpsc::Sender<Request>)>>,
    /// The sequence number of the last request written (or failed).
    written: Arc<AtomicU64>,
    /// Whether the latest write succeeded: after an I/O error (disk full)
    /// RocksDB refuses writes, and `/readyz` should say so.
    writable: Arc<AtomicBool>,
    /// Groups still to fail on purpose (tests; see `Store::fail_next_commits`).
    fail_next: Arc<AtomicUsize>,
}

impl Committer {
    /// Start the thread. It stops when every handle is dropped.
    ///
    /// The thread holds only a weak reference: the database closes when the
    /// last `Store` is dropped, on that thread, never later on this one (a
    /// database still open at process exit races RocksDB's static teardown).
    pub(crate) fn start(db: &Arc<DB>, sync: bool) -> std::io::Result<Self> {
        let db = Arc::downgrade(db);
        Self::start_with(move || {
            let mut synced = WriteOptions::new();
            synced.set_sync(sync);
            let mut unsynced = WriteOptions::new();
            unsynced.set_sync(false);
            Box::new(Rocks {
                db,
                synced,
                unsynced,
            })
        })
    }

    /// Start the thread writing to the sink `make` builds (on that thread).
    pub(crate) fn start_with(
        make: impl FnOnce() -> Box<dyn Sink> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Request>();
        let writable = Arc::new(AtomicBool::new(true));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let state = State {
            writable: writable.clone(),
            fail_next: fail_next.clone(),
            written: written.clone(),
        };
        thread::Builder::new()
            .name("hookbus-commit".into())
            .spawn(move || run(make().as_mut(), &rx, &state))?;
        Ok(Self {
            tx: Arc::new(Mutex::new((1, tx))),
            written,
            writable,
            fail_next,
        })
    }

    /// Did the latest write succeed?
    pub(crate) fn writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Fail the next `n` groups without writing them.
    pub(crate) fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::Relaxed);
    }

    /// Record the outcome of a write made outside the committer thread.
    pub(crate) fn note(&self, ok: bool) {
        self.writable.store(ok, Ordering::Relaxed);
    }

    /// Write `ops` atomically and durably (per the configured durability).
    /// The request is queued *now*, so groups are written in the order of
    /// these calls (the bus relies on it: tickets are handed out in commit
    /// order); the returned future resolves once they are on disk.
    pub(crate) fn commit(
        &self,
        ops: Vec<Op>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        self.queue(ops, true).1
    }

    /// Write `ops` atomically, in order with every other request, without
    /// an fsync of their own (they share one if a durable request is in the
    /// same group). Queued now; the future resolves once they are written.
    pub(crate) fn record(
        &self,
        ops: Vec<Op>,
    ) -> (
        Written,
        impl std::future::Future<Output = Result<(), StoreError>> + use<>,
    ) {
        self.queue(ops, false)
    }

    /// Like [`Self::record`], but nobody waits: [`Self::is_written`] tells
    /// when it is written; a failure is logged here (and `writable` drops).
    pub(crate) fn hand_over(&self, ops: Vec<Op>) -> Written {
        self.send(ops, false, None).unwrap_or(Written(0))
    }

    /// Like [`Self::record`], waiting on this (blocking) thread: for a
    /// caller outside any async runtime (the retention sweep).
    pub(crate) fn record_blocking(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(ops, false, Some(done))?;
        match wait.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(StoreError::Write(msg)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Has the handed-over write `w` been written (or failed)?
    pub(crate) fn is_written(&self, w: Written) -> bool {
        self.written.load(Ordering::Acquire) >= w.0
    }

    fn send(
        &self,
        ops: Vec<Op>,
        durable: bool,
        done: Option<oneshot::Sender<Result<(), String>>>,
    ) -> Result<Written, StoreError> {
        let mut guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let seq = guard.0;
        guard
            .1
            .send(Request {
                ops,
                durable,
                seq,
                done,
            })
            .map_err(|_| StoreError::Closed)?;
        guard.0 += 1;
        Ok(Written(seq))
    }

    fn queue(
        &self,
        ops: Vec<Op>,
        durable: bool,
    ) -> (
        Written,
        impl std::future::Future<Output = Result<(), StoreError>> + use<>,
    ) {
        let (done, wait) = oneshot::channel();
        let queued = self.send(ops, durable, Some(done));
        let number = *queued.as_ref().unwrap_or(&Written(0));
        (number, async move {
            queued?;
            match wait.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(msg)) => Err(StoreError::Write(msg)),
                Err(_) => Err(StoreError::Closed),
            }
        })
    }
}

/// What the thread shares with the handles.
struct State {
    writable: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
}

fn run(sink: &mut dyn Sink, rx: &mpsc::Receiver<Request>, state: &State) {
    let State {
        writable,
        fail_next,
        written,
    } = state;
    let mut group = Vec::with_capacity(64);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
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
        for req in group.drain(..) {
            // A publisher that gave up waiting is not an error here.
            if let Some(done) = req.done {
                let answer = if injected && req.durable {
                    Err("injected failure (fail_next_commits)".to_string())
                } else {
                    result.clone()
                };
                let _ = done.send(answer);
            }
        }
    }
}
