//! Circuit breaker: stop spending attempts on a receiver that keeps failing.
//!
//! closed → open after `failure_threshold` consecutive failures → half-open
//! once `reset_timeout` has passed, where `half_open_requests` trial attempts
//! run; all succeeding closes it, any failing opens it again. Time is injected.

use std::time::{Duration, Instant};

pub use crate::model::circuit::CircuitState as State;
pub use crate::model::policy::BreakerConfig;

/// A transition worth reporting (operational events, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The breaker just opened.
    Opened,
    /// The breaker just closed after a successful trial.
    Closed,
}

/// Breaker state machine.
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { started: u32, succeeded: u32 },
}

impl Breaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            state: Inner::Closed { failures: 0 },
        }
    }

    /// Replace the settings, keeping the current state.
    pub fn reconfigure(&mut self, cfg: BreakerConfig) {
        self.cfg = cfg;
    }

    /// Current state as of `now` (an expired open breaker reports half-open).
    pub fn state(&self, now: Instant) -> State {
        match self.state {
            Inner::Closed { .. } => State::Closed,
            Inner::Open { until } if now >= until => State::HalfOpen,
            Inner::Open { .. } => State::Open,
            Inner::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// When an open breaker will admit trials; `None` unless open.
    pub fn open_until(&self) -> Option<Instant> {
        match self.state {
            Inner::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Ask to start one attempt at `now`; `true` reserves it. Reserving moves
    /// an expired open breaker to half-open.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if let Inner::Open { until } = self.state {
            if now < until {
                return false;
            }
            self.state = Inner::HalfOpen {
                started: 0,
                succeeded: 0,
            };
        }
        match &mut self.state {
            Inner::Closed { .. } => true,
            Inner::HalfOpen { started, .. } if *started < self.cfg.half_open_requests => {
                *started += 1;
                true
            }
            _ => false,
        }
    }

    /// Give back a reservation whose attempt was abandoned before it had an
    /// outcome (a cluster node that stopped driving the endpoint): a
    /// half-open trial slot is free again instead of waiting for ever.
    pub fn release(&mut self) {
        if let Inner::HalfOpen { started, .. } = &mut self.state {
            *started = started.saturating_sub(1);
        }
    }

    /// Record a successful attempt.
    pub fn on_success(&mut self, _now: Instant) -> Option<Transition> {
        match &mut self.state {
            Inner::HalfOpen { succeeded, .. } => {
                *succeeded += 1;
                if *succeeded >= self.cfg.half_open_requests {
                    self.state = Inner::Closed { failures: 0 };
                    return Some(Transition::Closed);
                }
                None
            }
            Inner::Closed { failures } => {
                *failures = 0;
                None
            }
            // A straggler that started before the breaker opened.
            Inner::Open { .. } => None,
        }
    }

    /// Record a failed attempt (one that counts against the receiver's health).
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        let reset = self.cfg.reset_timeout.get();
        match &mut self.state {
            Inner::Closed { failures } => {
                *failures += 1;
                if *failures >= self.cfg.failure_threshold {
                    self.state = Inner::Open { until: now + reset };
                    return Some(Transition::Opened);
                }
                None
            }
            Inner::HalfOpen { .. } => {
                self.state = Inner::Open { until: now + reset };
                Some(Transition::Opened)
            }
            Inner::Open { .. } => None,
        }
    }

    /// Time left until trials are admitted, if open.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.open_until().map(|u| u.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dur;

    fn breaker(threshold: u32, trials: u32) -> Breaker {
        Breaker::new(BreakerConfig {
            failure_threshold: threshold,
            reset_timeout: Dur::secs(30),
            half_open_requests: trials,
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker(3, 1);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), Some(Transition::Opened));
        assert_eq!(b.state(t0), State::Open);
        assert!(!b.try_acquire(t0 + Duration::from_secs(29)));
    }

    #[test]
    fn success_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut b = breaker(2, 1);
        b.on_failure(t0);
        b.on_success(t0);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.state(t0), State::Closed);
    }

    #[test]
    fn half_open_admits_limited_trials_then_closes_on_success() {
        let t0 = Instant::now();
        let mut b = breaker(1, 2);
        b.on_failure(t0);
        let later = t0 + Duration::from_secs(30);
        assert_eq!(b.state(later), State::HalfOpen);
        assert!(b.try_acquire(later));
        assert!(b.try_acquire(later));
        assert!(!b.try_acquire(later), "only two trials while half-open");
        assert_eq!(b.on_success(later), None);
        assert_eq!(b.on_success(later), Some(Transition::Closed));
        assert!(b.try_acquire(later));
    }

    #[test]
    fn an_abandoned_trial_frees_its_half_open_slot() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        b.on_failure(t0);
        let later = t0 + Duration::from_secs(30);
        assert!(b.try_acquire(later));
        assert!(!b.try_acquire(later));
        b.release();
        assert!(b.try_acquire(later), "the slot is free again");
        assert_eq!(b.state(later), State::HalfOpen);
    }

    #[test]
    fn failed_trial_reopens_for_another_timeout() {
        let t0 = Instant::now();
        let mut b = breaker(1, 1);
        b.on_failure(t0);
        let t1 = t0 + Duration::from_secs(31);
        assert!(b.try_acquire(t1));
        assert_eq!(b.on_failure(t1), Some(Transition::Opened));
        assert_eq!(b.remaining(t1), Some(Duration::from_secs(30)));
    }
}
