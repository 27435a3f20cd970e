//! Retry schedule: when to try a failed delivery again. Pure functions, no clocks.

use std::time::Duration;

pub use crate::model::policy::{Jitter, RetryPolicy, Strategy};

impl RetryPolicy {
    /// The un-jittered delay after attempt number `attempt` (1-based) failed, capped.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let n = attempt.max(1) - 1;
        let init = self.initial_delay.get().as_secs_f64();
        let secs = match self.strategy {
            Strategy::Exponential => init * self.multiplier.powi(n.min(1000) as i32),
            Strategy::Linear => {
                let inc = self
                    .increment
                    .unwrap_or(self.initial_delay)
                    .get()
                    .as_secs_f64();
                init + inc * f64::from(n)
            }
            Strategy::Fixed => init,
        };
        cap(secs, self.max_delay.get())
    }

    /// The delay before the next attempt after attempt `attempt` failed.
    ///
    /// `retry_after` (from the response) wins over the schedule, clamped to
    /// `max_delay`. `previous` is the last delay used (for decorrelated
    /// jitter). `rand01` is a uniform sample in `[0, 1)`, injected so the
    /// schedule is testable.
    pub fn next_delay(
        &self,
        attempt: u32,
        previous: Option<Duration>,
        retry_after: Option<Duration>,
        rand01: f64,
    ) -> Duration {
        let max = self.max_delay.get();
        if let Some(ra) = retry_after {
            return ra.min(max);
        }
        let r = rand01.clamp(0.0, 1.0);
        let base = self.base_delay(attempt).as_secs_f64();
        let secs = match self.jitter {
            Jitter::None => base,
            Jitter::Full => base * r,
            Jitter::Equal => base / 2.0 + base / 2.0 * r,
            Jitter::Decorrelated => {
                let lo = self.initial_delay.get().as_secs_f64();
                let prev = previous.map_or(lo, |p| p.as_secs_f64()).max(lo);
                lo + (prev * 3.0 - lo) * r
            }
        };
        cap(secs, max)
    }
}

fn cap(secs: f64, max: Duration) -> Duration {
    if !secs.is_finite() || secs >= max.as_secs_f64() {
        max
    } else {
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dur;

    fn policy(strategy: Strategy, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            strategy,
            jitter,
            initial_delay: Dur::secs(1),
            max_delay: Dur::secs(60),
            ..Default::default()
        }
    }

    #[test]
    fn exponential_doubles_until_the_cap() {
        let p = policy(Strategy::Exponential, Jitter::None);
        let d: Vec<u64> = (1..=8)
            .map(|n| p.next_delay(n, None, None, 0.5).as_secs())
            .collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            p.next_delay(10_000, None, None, 0.5),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn linear_and_fixed_follow_their_rules() {
        let mut p = policy(Strategy::Linear, Jitter::None);
        p.increment = Some(Dur::secs(2));
        let d: Vec<u64> = (1..=4)
            .map(|n| p.next_delay(n, None, None, 0.0).as_secs())
            .collect();
        assert_eq!(d, [1, 3, 5, 7]);
        let f = policy(Strategy::Fixed, Jitter::None);
        assert!((1..=5).all(|n| f.next_delay(n, None, None, 0.9) == Duration::from_secs(1)));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        for (jitter, lo, hi) in [(Jitter::Full, 0.0, 8.0), (Jitter::Equal, 4.0, 8.0)] {
            let p = policy(Strategy::Exponential, jitter);
            for i in 0..=100 {
                let d = p
                    .next_delay(4, None, None, f64::from(i) / 100.0)
                    .as_secs_f64();
                assert!((lo..=hi).contains(&d), "{jitter:?} gave {d}");
            }
        }
        let p = policy(Strategy::Exponential, Jitter::Decorrelated);
        for i in 0..=100 {
            let d = p.next_delay(3, Some(Duration::from_secs(10)), None, f64::from(i) / 100.0);
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(30),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_wins_but_is_clamped_to_max_delay() {
        let p = policy(Strategy::Exponential, Jitter::Full);
        assert_eq!(
            p.next_delay(1, None, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.next_delay(1, None, Some(Duration::from_secs(7200)), 0.0),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn rejects_nonsense_policies() {
        let p = RetryPolicy {
            max_attempts: 0,
            multiplier: f64::NAN,
            ..Default::default()
        };
        assert_eq!(p.problems().len(), 2);
    }
}
