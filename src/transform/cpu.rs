//! CPU shares for script runs: at most `transforms.workers` runs execute at
//! once, handed out first come, first served, and a run that has used its
//! slice gives its share back whenever another run is waiting.
//!
//! Why: with a plain pool of `workers` threads, two endpoints whose scripts
//! each run to their limit hold every thread, and a healthy endpoint's
//! cheap script waits behind whole batches of them. Here every endpoint with
//! work has its own thread, the shares bound the CPU all scripts together
//! use, and the hand-over at each slice (checked from Rhai's `on_progress`)
//! makes a cheap run wait at most about one slice, however many expensive
//! scripts run beside it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// The shares of one pool.
pub struct CpuShare {
    state: Mutex<State>,
    turn: Condvar,
    waiting: AtomicUsize,
}

struct State {
    free: usize,
    queue: VecDeque<u64>,
    next_ticket: u64,
}

impl CpuShare {
    /// `shares` concurrent runs (at least one).
    pub fn new(shares: usize) -> Self {
        Self {
            state: Mutex::new(State {
                free: shares.max(1),
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            turn: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Wait for a share, in arrival order.
    pub fn acquire(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.free > 0 && st.queue.is_empty() {
            st.free -= 1;
            return;
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.queue.push_back(ticket);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        while !(st.free > 0 && st.queue.front() == Some(&ticket)) {
            st = self.turn.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.queue.pop_front();
        st.free -= 1;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        // The next in line may find a share free too.
        self.turn.notify_all();
    }

    /// Give a share back.
    pub fn release(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.free += 1;
        drop(st);
        self.turn.notify_all();
    }

    /// Another run waits for a share.
    pub fn others_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Let the runs waiting before this one go first.
    pub fn yield_now(&self) {
        self.release();
        self.acquire();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_more_runs_than_shares_and_waiters_are_served_in_order() {
        let shares = Arc::new(CpuShare::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (s, r, p) = (shares.clone(), running.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        s.acquire();
                        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                        p.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        r.fetch_sub(1, Ordering::SeqCst);
                        s.release();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert!(!shares.others_waiting());
    }

    #[test]
    fn yielding_lets_a_waiting_run_in_first() {
        let shares = Arc::new(CpuShare::new(1));
        shares.acquire();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (s, o) = (shares.clone(), order.clone());
        let waiter = std::thread::spawn(move || {
            s.acquire();
            o.lock().unwrap().push("waiter");
            s.release();
        });
        while !shares.others_waiting() {
            std::thread::yield_now();
        }
        shares.yield_now();
        order.lock().unwrap().push("yielder");
        shares.release();
        waiter.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["waiter", "yielder"]);
    }
}
