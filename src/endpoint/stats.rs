//! Per-endpoint delivery statistics kept by the actor (since process start):
//! counts, success rate, latency percentiles over recent attempts, last outcomes.

use std::collections::VecDeque;

use serde::Serialize;

/// Recent attempt latencies kept for percentiles.
const LATENCY_WINDOW: usize = 1024;

/// Running statistics of one endpoint.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    delivered: u64,
    failed: u64,
    dead: u64,
    filtered: u64,
    retries: u64,
    attempts: u64,
    latency_sum_ms: f64,
    recent_ms: VecDeque<f64>,
    last_success_at: Option<u64>,
    last_failure_at: Option<u64>,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Latency {
    /// Mean over every attempt.
    pub avg: f64,
    /// Median of recent attempts.
    pub p50: f64,
    /// 95th percentile of recent attempts.
    pub p95: f64,
    /// 99th percentile of recent attempts.
    pub p99: f64,
}

/// What the API and dashboard show.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StatsView {
    /// Deliveries a receiver accepted.
    pub delivered: u64,
    /// Failed attempts that were retried.
    pub failed: u64,
    /// Deliveries dead-lettered.
    pub dead: u64,
    /// Deliveries skipped by a transform.
    pub filtered: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Attempts made.
    pub attempts: u64,
    /// delivered / (delivered + dead), or null before any finished delivery.
    pub success_rate: Option<f64>,
    /// Attempt latency, ms.
    pub latency_ms: Latency,
    /// Last successful attempt, Unix ms.
    pub last_success_at: Option<u64>,
    /// Last failed attempt, Unix ms.
    pub last_failure_at: Option<u64>,
}

impl Stats {
    /// Record one attempt: its number, latency, and whether it succeeded.
    pub fn attempt(&mut self, n: u32, latency_ms: f64, success: bool, now_ms: u64) {
        self.attempts += 1;
        if n > 1 {
            self.retries += 1;
        }
        self.latency_sum_ms += latency_ms;
        if self.recent_ms.len() == LATENCY_WINDOW {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(latency_ms);
        if success {
            self.last_success_at = Some(now_ms);
        } else {
            self.last_failure_at = Some(now_ms);
        }
    }

    /// A delivery succeeded.
    pub fn delivered(&mut self) {
        self.delivered += 1;
    }

    /// An attempt failed and will be retried.
    pub fn failed(&mut self) {
        self.failed += 1;
    }

    /// A delivery was dead-lettered.
    pub fn dead(&mut self) {
        self.dead += 1;
    }

    /// A delivery was filtered.
    pub fn filtered(&mut self) {
        self.filtered += 1;
    }

    /// The summary.
    pub fn view(&self) -> StatsView {
        let mut sorted: Vec<f64> = self.recent_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let finished = self.delivered + self.dead;
        StatsView {
            delivered: self.delivered,
            failed: self.failed,
            dead: self.dead,
            filtered: self.filtered,
            retries: self.retries,
            attempts: self.attempts,
            success_rate: (finished > 0).then(|| self.delivered as f64 / finished as f64),
            latency_ms: Latency {
                avg: if self.attempts == 0 {
                    0.0
                } else {
                    self.latency_sum_ms / self.attempts as f64
                },
                p50: percentile(&sorted, 0.50),
                p95: percentile(&sorted, 0.95),
                p99: percentile(&sorted, 0.99),
            },
            last_success_at: self.last_success_at,
            last_failure_at: self.last_failure_at,
        }
    }
}

/// Nearest-rank percentile of sorted samples (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates_follow_the_samples() {
        let mut s = Stats::default();
        for i in 1..=100 {
            s.attempt(1, f64::from(i), true, 5);
        }
        s.attempt(2, 1000.0, false, 9);
        s.delivered();
        s.delivered();
        s.dead();
        let v = s.view();
        assert_eq!(v.latency_ms.p50, 51.0);
        assert_eq!(v.latency_ms.p99, 100.0);
        assert_eq!(v.retries, 1);
        assert_eq!(v.success_rate, Some(2.0 / 3.0));
        assert_eq!((v.last_success_at, v.last_failure_at), (Some(5), Some(9)));
    }

    #[test]
    fn empty_stats_have_no_rate() {
        let v = Stats::default().view();
        assert_eq!(v.success_rate, None);
        assert_eq!(v.latency_ms.p95, 0.0);
    }
}
