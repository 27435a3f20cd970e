//! The group committer's grouping, with a sink that records group sizes.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Committer, Sink};
use crate::store::op::Op;

/// Records the size of every group it is given.
struct Sizes(Arc<Mutex<Vec<usize>>>);

impl Sink for Sizes {
    fn write(&mut self, units: &[&[Op]], _sync: bool) -> Result<(), String> {
        self.0.lock().unwrap().push(units.len());
        Ok(())
    }
}

fn committer(max_wait: Duration) -> (Committer, Arc<Mutex<Vec<usize>>>) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let sink = Sizes(sizes.clone());
    let c = Committer::start_waiting(move || Box::new(sink), max_wait).unwrap();
    (c, sizes)
}

/// The one request was written in a group of its own, well before the
/// (long) bound on waiting for announced publishes.
fn written_alone_without_waiting(started: Instant, sizes: &Mutex<Vec<usize>>) {
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(*sizes.lock().unwrap(), vec![1]);
}

/// Commit nothing, as a publish that announced itself with `coming`;
/// returns once written.
fn commit_announced(c: &Committer, coming: super::Coming) -> Result<(), crate::store::StoreError> {
    let (tx, rx) = std::sync::mpsc::channel();
    c.commit_then(Vec::new(), Some(coming), move |res| {
        let _ = tx.send(res);
    });
    rx.recv().unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_publish_announced_as_coming_joins_the_group_already_waiting() {
    let (c, sizes) = committer(Duration::from_secs(10));
    let coming = c.expect();
    let first = c.commit(Vec::new());
    let other = c.clone();
    let sibling = thread::spawn(move || {
        // Long after the first request reached the committer thread.
        thread::sleep(Duration::from_millis(50));
        commit_announced(&other, coming).unwrap();
    });
    block_on(first).unwrap();
    sibling.join().unwrap();
    assert_eq!(*sizes.lock().unwrap(), vec![2]);
}

#[test]
fn a_lone_publish_is_written_without_waiting() {
    let (c, sizes) = committer(Duration::from_secs(10));
    let started = Instant::now();
    block_on(c.commit(Vec::new())).unwrap();
    written_alone_without_waiting(started, &sizes);
}

#[test]
fn a_publish_that_fails_before_its_commit_releases_the_waiting_group() {
    let (c, sizes) = committer(Duration::from_secs(10));
    let coming = c.expect();
    let first = c.commit(Vec::new());
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        drop(coming);
    });
    let started = Instant::now();
    block_on(first).unwrap();
    written_alone_without_waiting(started, &sizes);
}

#[test]
fn a_group_waits_for_a_publish_that_never_comes_only_up_to_the_bound() {
    let (c, sizes) = committer(Duration::from_millis(100));
    let _stuck = c.expect();
    let started = Instant::now();
    block_on(c.commit(Vec::new())).unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(*sizes.lock().unwrap(), vec![1]);
}

#[test]
fn outcome_writes_never_wait_for_announced_publishes() {
    let (c, sizes) = committer(Duration::from_secs(10));
    let _stuck = c.expect();
    let started = Instant::now();
    block_on(c.record(Vec::new()).1).unwrap();
    written_alone_without_waiting(started, &sizes);
}

#[test]
fn follow_ups_run_in_the_order_their_commits_were_queued() {
    let (c, _) = committer(Duration::from_millis(1));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..200 {
        let (seen, tx) = (seen.clone(), tx.clone());
        c.commit_then(Vec::new(), None, move |res| {
            res.unwrap();
            seen.lock().unwrap().push(i);
            let _ = tx.send(());
        });
    }
    for _ in 0..200 {
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[test]
fn a_follow_up_that_panics_does_not_stop_the_committer() {
    let (c, _) = committer(Duration::from_millis(1));
    c.commit_then(Vec::new(), None, |_| panic!("a follow-up that fails"));
    block_on(c.commit(Vec::new())).unwrap();
    assert!(c.writable());
}
