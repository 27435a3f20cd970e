//! Per-endpoint rate limit: a token bucket. Pure, with injected time.

use std::time::{Duration, Instant};

pub use crate::model::policy::RateLimit;

/// The longest wait `check` reports (the actor checks again after it).
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Token bucket state.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for `limit` at `now`.
    pub fn new(limit: &RateLimit, now: Instant) -> Self {
        Self {
            rate: limit.per_second,
            burst: limit.burst(),
            tokens: limit.burst(),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// `Ok` if an attempt may start now, else how long until one may.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            // A tiny valid rate (5e-324/s) makes this infinite; the actor
            // re-checks after the wait anyway, so an hour is as good.
            let wait = Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT);
            Err(wait)
        }
    }

    /// Spend `n` tokens at once if there are that many now, else how long
    /// until there will be (`None` when `n` exceeds the burst: never).
    pub fn take_n(&mut self, n: f64, now: Instant) -> Result<(), Option<Duration>> {
        self.refill(now);
        if n > self.burst {
            return Err(None);
        }
        if self.tokens >= n {
            self.tokens -= n;
            return Ok(());
        }
        Err(Some(
            Duration::try_from_secs_f64((n - self.tokens) / self.rate)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT),
        ))
    }

    /// The bucket size.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Spend one token (after a successful [`Bucket::check`]).
    pub fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_all_its_tokens_or_none() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 10.0,
            burst: Some(5),
        };
        let mut b = Bucket::new(&limit, t0);
        assert!(b.take_n(3.0, t0).is_ok());
        let wait = b.take_n(3.0, t0).unwrap_err().unwrap();
        assert_eq!(wait, Duration::from_millis(100), "one token short at 10/s");
        assert!(b.take_n(2.0, t0).is_ok(), "the refused batch took nothing");
        assert_eq!(b.take_n(6.0, t0), Err(None), "larger than the burst: never");
    }

    #[test]
    fn a_vanishingly_small_rate_waits_at_most_an_hour_instead_of_panicking() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            &RateLimit {
                per_second: 5e-324,
                burst: None,
            },
            t0,
        );
        assert!(b.check(t0).is_ok());
        b.take();
        assert_eq!(b.check(t0), Err(MAX_WAIT));
    }

    #[test]
    fn allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            &RateLimit {
                per_second: 10.0,
                burst: Some(3),
            },
            t0,
        );
        for _ in 0..3 {
            assert!(b.check(t0).is_ok());
            b.take();
        }
        let wait = b.check(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert!(b.check(t0 + Duration::from_millis(100)).is_ok());
        b.take();
        // Over 10 s at 10/s: 100 more attempts, not more.
        let mut n = 0;
        let mut t = t0 + Duration::from_millis(100);
        while t <= t0 + Duration::from_millis(10_100) {
            if b.check(t).is_ok() {
                b.take();
                n += 1;
            }
            t += Duration::from_millis(1);
        }
        assert!((99..=101).contains(&n), "{n}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            &RateLimit {
                per_second: 1.0,
                burst: None,
            },
            t0,
        );
        b.take();
        let later = t0 + Duration::from_secs(3600);
        assert!(b.check(later).is_ok());
        b.take();
        assert!(
            b.check(later).is_err(),
            "burst defaults to ceil(per_second) = 1"
        );
    }

    #[test]
    fn rejects_nonsense() {
        assert_eq!(
            RateLimit {
                per_second: 0.0,
                burst: Some(0)
            }
            .problems()
            .len(),
            2
        );
    }
}
