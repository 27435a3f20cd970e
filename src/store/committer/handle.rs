//! The handles publishers and actors hold: queue writes, announce
//! publishes, see what has been written.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

use super::group::{self, Done, MAX_SIBLING_WAIT, Request, Sink, State};
use crate::store::StoreError;
use crate::store::lifetime::Db;
use crate::store::op::Op;

/// A publish on its way to the committer: while any is alive, a group with
/// a durable request waits for it (up to half a millisecond) instead of
/// paying an fsync of its own. Taken when a publish starts
/// (`Store::expect_commit`); it travels with the publish's
/// request and the committer drops it as it takes that request into a
/// group (a publish that fails before that drops it itself). Dropped any
/// earlier, a waiting group could see "none coming" while the request is
/// still between the two threads, and be written without it.
#[derive(Debug)]
pub struct Coming(pub(super) Arc<AtomicUsize>);

impl Drop for Coming {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// A handed-over write's place in the committer's order: it has been
/// written (or has failed, logged) once `Committer::is_written` says so.
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
    /// Publishes announced and not yet queued (see [`Coming`]).
    coming: Arc<AtomicUsize>,
}

impl Committer {
    /// Start the thread. It stops when every handle is dropped.
    ///
    /// The thread holds only a weak reference: the database closes when the
    /// last `Store` is dropped, on that thread, never later on this one (a
    /// database still open at process exit races RocksDB's static teardown).
    pub(crate) fn start(db: &Arc<Db>, sync: bool) -> std::io::Result<Self> {
        let db = Arc::downgrade(db);
        Self::start_with(move || group::rocks(db, sync))
    }

    /// Start the thread writing to the sink `make` builds (on that thread).
    pub(crate) fn start_with(
        make: impl FnOnce() -> Box<dyn Sink> + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::start_waiting(make, MAX_SIBLING_WAIT)
    }

    /// [`Self::start_with`], a group waiting at most `max_wait` for
    /// announced publishes (tests use a long one, to be deterministic).
    pub(super) fn start_waiting(
        make: impl FnOnce() -> Box<dyn Sink> + Send + 'static,
        max_wait: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Request>();
        let writable = Arc::new(AtomicBool::new(true));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let coming = Arc::new(AtomicUsize::new(0));
        let state = State {
            writable: writable.clone(),
            fail_next: fail_next.clone(),
            written: written.clone(),
            coming: coming.clone(),
            max_wait,
        };
        thread::Builder::new()
            .name("hookbus-commit".into())
            .spawn(move || group::run(make().as_mut(), &rx, &state))?;
        Ok(Self {
            tx: Arc::new(Mutex::new((1, tx))),
            written,
            writable,
            fail_next,
            coming,
        })
    }

    /// Announce a publish that will reach [`Self::commit`] soon.
    pub(crate) fn expect(&self) -> Coming {
        self.coming.fetch_add(1, Ordering::AcqRel);
        Coming(self.coming.clone())
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

    /// [`Self::commit`], then `then` on the committer thread with the
    /// result (at once, here, if the committer has stopped). See
    /// [`Done::Then`] for what `then` may do. `coming`, this publish's
    /// announcement, is released when the committer takes the request.
    pub(crate) fn commit_then(
        &self,
        ops: Vec<Op>,
        coming: Option<Coming>,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        let done = Some(Done::Then(Box::new(then)));
        if let Err(Some(Done::Then(then))) = self.try_send(ops, true, done, coming) {
            then(Err(StoreError::Closed));
        }
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
        self.send(ops, false, Some(Done::Wait(done)))?;
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

    fn send(&self, ops: Vec<Op>, durable: bool, done: Option<Done>) -> Result<Written, StoreError> {
        self.try_send(ops, durable, done, None)
            .map_err(|_| StoreError::Closed)
    }

    /// Queue a request; when the thread has stopped, its `done` comes back.
    fn try_send(
        &self,
        ops: Vec<Op>,
        durable: bool,
        done: Option<Done>,
        coming: Option<Coming>,
    ) -> Result<Written, Option<Done>> {
        let mut guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let seq = guard.0;
        guard
            .1
            .send(Request {
                ops,
                durable,
                seq,
                done,
                coming,
            })
            .map_err(|mpsc::SendError(req)| req.done)?;
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
        let queued = self.send(ops, durable, Some(Done::Wait(done)));
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
