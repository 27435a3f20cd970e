//! The verdict: what an attempt's outcome does to a delivery and its
//! endpoint — delivered, retry at a delay, dead with a reason, expire,
//! disable the endpoint, which operational event to publish. Pure, with time
//! and randomness injected; the endpoint actor only carries it out.

use std::time::Duration;

use super::classify::{self, Decision, Outcome};
use super::retry::RetryPolicy;

/// What happens to the delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Delivered.
    Delivered,
    /// Attempt again after `delay`.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// Why the attempt failed.
        reason: String,
    },
    /// Dead-lettered.
    Dead {
        /// Why, kept with the dead letter.
        reason: String,
    },
}

/// The whole verdict after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The delivery's fate.
    pub fate: Fate,
    /// Unix ms of the first failure since the last success (`disable_after`'s clock).
    pub failing_since: Option<u64>,
    /// Disable the endpoint, with this reason.
    pub disable: Option<String>,
}

/// What the endpoint knows when an attempt finished.
#[derive(Debug, Clone)]
pub struct Attempted<'a> {
    /// What the attempt produced.
    pub outcome: &'a Outcome,
    /// Statuses that count as delivered.
    pub success_codes: &'a [u16],
    /// The retry policy.
    pub retry: &'a RetryPolicy,
    /// `disable_after`.
    pub disable_after: Duration,
    /// Attempts made, this one included.
    pub attempt: u32,
    /// Attempts made before the latest replay (the budget counts from here).
    pub budget_start: u32,
    /// The last retry delay (decorrelated jitter).
    pub last_delay: Option<Duration>,
    /// The endpoint's failing-since clock before this attempt.
    pub failing_since: Option<u64>,
    /// When this attempt started, Unix ms.
    pub started_ms: u64,
    /// Now, Unix ms.
    pub now_ms: u64,
    /// Wall clock now (for HTTP-date `Retry-After`).
    pub now: std::time::SystemTime,
    /// A uniform sample in `[0, 1)` for jitter.
    pub rand01: f64,
}

/// Decide what an attempt's outcome does.
pub fn after_attempt(a: &Attempted<'_>) -> Verdict {
    let decision = classify::classify(a.outcome, a.success_codes, a.now);
    let mut failing_since = a.failing_since;
    let mut disable = None;
    if matches!(a.outcome, Outcome::Response { status: 410, .. }) {
        disable = Some("the receiver answered 410 Gone".to_string());
    } else if classify::is_receiver_failure(&decision) {
        let since = *failing_since.get_or_insert(a.started_ms);
        if a.now_ms.saturating_sub(since) >= a.disable_after.as_millis() as u64 {
            disable = Some(format!(
                "no successful delivery for {}",
                crate::model::Dur(a.disable_after)
            ));
        }
    } else if decision == Decision::Success {
        failing_since = None;
    }
    let used = a.attempt.saturating_sub(a.budget_start);
    let fate = match decision {
        Decision::Success => Fate::Delivered,
        Decision::Retry { reason, .. } if used >= a.retry.max_attempts => Fate::Dead {
            reason: format!(
                "gave up after {used} attempts; last: {}",
                a.outcome.status_and_error().1.unwrap_or(reason)
            ),
        },
        Decision::Retry {
            retry_after,
            reason,
        } => Fate::Retry {
            delay: a
                .retry
                .next_delay(used, a.last_delay, retry_after, a.rand01),
            reason,
        },
        Decision::Permanent { reason } => Fate::Dead { reason },
    };
    Verdict {
        fate,
        failing_since,
        disable,
    }
}

/// Before an attempt: a delivery queued longer than `expire_after` ago is
/// dead as expired (counted from when it last entered the queue, so a replay
/// opens a fresh window).
pub fn expired(queued_ms: u64, now_ms: u64, expire_after: Duration) -> Option<String> {
    (Duration::from_millis(now_ms.saturating_sub(queued_ms)) > expire_after).then(|| {
        format!(
            "expired: not delivered within expire_after ({})",
            crate::model::Dur(expire_after)
        )
    })
}

/// The operational event a finished delivery announces, if any: a dead
/// letter, or a success that needed more than one attempt. None about
/// operational deliveries, which would feed on themselves.
pub fn announcement(
    fate: &Fate,
    attempts: u32,
    budget_start: u32,
    operational_delivery: bool,
) -> Option<&'static str> {
    if operational_delivery {
        return None;
    }
    match fate {
        Fate::Dead { .. } => Some("hookbus.delivery.dead_lettered"),
        Fate::Delivered if attempts > budget_start + 1 => Some("hookbus.delivery.recovered"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::endpoint::retry::{Jitter, Strategy};

    const MIN: u64 = 60_000;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            strategy: Strategy::Exponential,
            max_attempts: 3,
            initial_delay: "5s".parse().unwrap(),
            multiplier: 2.0,
            increment: None,
            max_delay: "1m".parse().unwrap(),
            jitter: Jitter::None,
        }
    }

    fn status(s: u16) -> Outcome {
        Outcome::Response {
            status: s,
            retry_after: None,
        }
    }

    /// One attempt at `attempt` of a fresh delivery, at t = 10 min.
    fn run(outcome: &Outcome, attempt: u32) -> Verdict {
        run_with(outcome, attempt, 0, None, &(200..=299).collect::<Vec<_>>())
    }

    fn run_with(
        outcome: &Outcome,
        attempt: u32,
        budget_start: u32,
        failing_since: Option<u64>,
        codes: &[u16],
    ) -> Verdict {
        let retry = policy();
        after_attempt(&Attempted {
            outcome,
            success_codes: codes,
            retry: &retry,
            disable_after: Duration::from_secs(3600),
            attempt,
            budget_start,
            last_delay: None,
            failing_since,
            started_ms: 10 * MIN,
            now_ms: 10 * MIN,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(600),
            rand01: 0.5,
        })
    }

    fn is_retry(v: &Verdict) -> bool {
        matches!(v.fate, Fate::Retry { .. })
    }

    fn is_dead(v: &Verdict) -> bool {
        matches!(v.fate, Fate::Dead { .. })
    }

    #[test]
    fn success_codes_deliver_and_reset_the_failing_clock() {
        let v = run_with(
            &status(204),
            1,
            0,
            Some(MIN),
            &(200..=299).collect::<Vec<_>>(),
        );
        assert_eq!(v.fate, Fate::Delivered);
        assert_eq!(v.failing_since, None);
        // A custom list: 201 is not a success there, and not retryable either.
        let v = run_with(&status(201), 1, 0, None, &[200, 202]);
        assert!(is_dead(&v), "{v:?}");
        assert_eq!(
            run_with(&status(202), 1, 0, None, &[200, 202]).fate,
            Fate::Delivered
        );
    }

    #[test]
    fn retryable_outcomes_retry_with_the_schedule() {
        for o in [
            status(408),
            status(425),
            status(429),
            status(500),
            status(503),
            Outcome::Timeout,
            Outcome::Network("reset".into()),
        ] {
            let v = run(&o, 1);
            assert_eq!(
                v.fate,
                Fate::Retry {
                    delay: Duration::from_secs(5),
                    reason: match &o {
                        Outcome::Response { status, .. } => format!("HTTP {status}"),
                        Outcome::Timeout => "timeout".into(),
                        Outcome::Network(e) | Outcome::Refused(e) => e.clone(),
                    },
                },
                "{o:?}"
            );
            assert_eq!(v.failing_since, Some(10 * MIN), "the failing clock starts");
        }
        // The second failure waits twice as long (exponential, no jitter).
        assert!(
            matches!(run(&status(500), 2).fate, Fate::Retry { delay, .. } if delay == Duration::from_secs(10))
        );
    }

    #[test]
    fn other_4xx_and_3xx_are_permanent_and_410_disables() {
        for s in [400, 401, 403, 404, 301, 302, 308] {
            assert!(is_dead(&run(&status(s), 1)), "{s}");
            assert_eq!(run(&status(s), 1).disable, None);
        }
        assert!(
            is_dead(&run(&Outcome::Refused("ssrf".into()), 1)),
            "refusals never retry"
        );
        let gone = run(&status(410), 1);
        assert!(is_dead(&gone));
        assert_eq!(
            gone.disable.as_deref(),
            Some("the receiver answered 410 Gone")
        );
    }

    #[test]
    fn max_attempts_ends_retries_counting_from_the_replay_budget() {
        assert!(is_retry(&run(&status(500), 2)));
        let v = run(&status(500), 3);
        assert_eq!(
            v.fate,
            Fate::Dead {
                reason: "gave up after 3 attempts; last: HTTP 500".into()
            }
        );
        // Replayed after 3 attempts: a fresh budget of 3 more.
        assert!(is_retry(&run_with(&status(500), 4, 3, None, &[200])));
        assert!(is_dead(&run_with(&status(500), 6, 3, None, &[200])));
    }

    #[test]
    fn retry_after_is_honoured_and_clamped_to_max_delay() {
        let hinted = |v: &str| Outcome::Response {
            status: 429,
            retry_after: Some(v.into()),
        };
        assert!(
            matches!(run(&hinted("7"), 1).fate, Fate::Retry { delay, .. } if delay == Duration::from_secs(7))
        );
        assert!(
            matches!(run(&hinted("86400"), 1).fate, Fate::Retry { delay, .. } if delay == Duration::from_secs(60))
        );
        // An HTTP date 30 s after the injected now.
        let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(630));
        assert!(
            matches!(run(&hinted(&date), 1).fate, Fate::Retry { delay, .. } if delay == Duration::from_secs(30))
        );
    }

    #[test]
    fn disable_after_runs_from_the_first_failure_since_the_last_success() {
        // Failing since 9 min ago with disable_after = 1 h: not yet.
        let v = run_with(&status(503), 1, 0, Some(MIN), &[200]);
        assert_eq!((v.disable, v.failing_since), (None, Some(MIN)));
        // Failing since t = 0, now t = 10 min with disable_after = 5 min: disable.
        let retry = policy();
        let v = after_attempt(&Attempted {
            outcome: &status(503),
            success_codes: &[200],
            retry: &retry,
            disable_after: Duration::from_secs(300),
            attempt: 1,
            budget_start: 0,
            last_delay: None,
            failing_since: Some(0),
            started_ms: 10 * MIN,
            now_ms: 10 * MIN,
            now: SystemTime::UNIX_EPOCH,
            rand01: 0.0,
        });
        assert_eq!(v.disable.as_deref(), Some("no successful delivery for 5m"));
        // A permanent failure (a 400) is the delivery's fault, not the receiver's: no clock.
        assert_eq!(
            run_with(&status(400), 1, 0, None, &[200]).failing_since,
            None
        );
    }

    #[test]
    fn expire_after_counts_from_the_last_queueing() {
        let three_days = Duration::from_secs(3 * 86_400);
        assert_eq!(
            expired(0, 3 * 86_400_000, three_days),
            None,
            "exactly at the limit: still sent"
        );
        assert_eq!(
            expired(0, 3 * 86_400_000 + 1, three_days).as_deref(),
            Some("expired: not delivered within expire_after (3d)")
        );
        assert_eq!(
            expired(5 * 86_400_000, 6 * 86_400_000, three_days),
            None,
            "a replay re-queues"
        );
    }

    #[test]
    fn dead_letters_and_recoveries_are_announced_but_never_about_operational_deliveries() {
        let dead = Fate::Dead { reason: "x".into() };
        assert_eq!(
            announcement(&dead, 1, 0, false),
            Some("hookbus.delivery.dead_lettered")
        );
        assert_eq!(
            announcement(&Fate::Delivered, 1, 0, false),
            None,
            "first-try success"
        );
        assert_eq!(
            announcement(&Fate::Delivered, 2, 0, false),
            Some("hookbus.delivery.recovered")
        );
        assert_eq!(
            announcement(&Fate::Delivered, 4, 3, false),
            None,
            "first try after a replay"
        );
        assert_eq!(announcement(&dead, 1, 0, true), None);
    }
}
