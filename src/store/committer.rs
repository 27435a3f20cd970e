//! The group committer: one thread turns every concurrent publish into one
//! RocksDB `WriteBatch` and one fsync, then wakes each publisher.
//!
//! Why a dedicated OS thread: the write blocks on fsync for milliseconds; on
//! an actix arbiter that would stall every actor sharing it. While one group
//! is being synced, new requests pile up in the channel and form the next
//! group, so the fsync cost is shared by everyone who published meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Instant;

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::oneshot;

use super::StoreError;
use super::op::Op;
use crate::telemetry;

/// Upper bound on requests merged into one group, so one huge group cannot
/// delay the first publisher's acknowledgement without limit.
const MAX_GROUP: usize = 1024;

struct Request {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the committer thread; cloning shares the thread.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
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
        let (tx, rx) = mpsc::channel::<Request>();
        let db = Arc::downgrade(db);
        let writable = Arc::new(AtomicBool::new(true));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let (flag, failing) = (writable.clone(), fail_next.clone());
        thread::Builder::new()
            .name("hookbus-commit".into())
            .spawn(move || run(&db, &rx, sync, &flag, &failing))?;
        Ok(Self {
            tx,
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
        let (done, wait) = oneshot::channel();
        let queued = self
            .tx
            .send(Request { ops, done })
            .map_err(|_| StoreError::Closed);
        async move {
            queued?;
            match wait.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(msg)) => Err(StoreError::Write(msg)),
                Err(_) => Err(StoreError::Closed),
            }
        }
    }
}

fn run(
    db: &Weak<DB>,
    rx: &mpsc::Receiver<Request>,
    sync: bool,
    writable: &AtomicBool,
    fail_next: &AtomicUsize,
) {
    let mut opts = WriteOptions::new();
    opts.set_sync(sync);
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
        let injected = fail_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        let result = match db.upgrade() {
            _ if injected => Err("injected failure (fail_next_commits)".to_string()),
            Some(db) => {
                let mut batch = WriteBatch::default();
                for req in &group {
                    for op in &req.ops {
                        op.apply(&db, &mut batch);
                    }
                }
                db.write_opt(batch, &opts).map_err(|e| e.into_string())
            }
            None => Err("the store is closed".to_string()),
        };
        writable.store(result.is_ok(), Ordering::Relaxed);
        telemetry::StoreCommitted {
            elapsed: started.elapsed(),
            group: group.len(),
        }
        .emit();
        for req in group.drain(..) {
            // A publisher that gave up waiting is not an error here.
            let _ = req.done.send(result.clone());
        }
    }
}
