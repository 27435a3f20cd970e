//! Per-endpoint delivery statistics kept by the actor: counts, mean latency
//! and last outcomes since the endpoint's creation (persisted as
//! [`EndpointTotals`] with every outcome), latency percentiles over the
//! attempts since this process started.

use std::collections::VecDeque;

use serde::Serialize;

use crate::store::records::EndpointTotals;

/// Recent attempt latencies kept for percentiles.
const LATENCY_WINDOW: usize = 1024;

/// Running statistics of one endpoint.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    totals: EndpointTotals,
    recent_ms: VecDeque<f64>,
}

/// Latency summary in milliseconds: the mean over every attempt since the
/// endpoint's creation, percentiles over recent attempts of this process.
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
    /// Deliveries a receiver accepted (totals since the endpoint's creation, kept across restarts).
    pub delivered: u64,
    /// Failed attempts that were retried.
    pub failed: u64,
    /// Deliveries dead-lettered.
    pub dead: u64,
    /// Deliveries skipped by a transform.
    pub filtered: u64,
    /// Matched events the endpoint's `filter` turned away (no delivery was made for them).
    pub filtered_out: u64,
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
    /// Continue from the totals kept in the store.
    pub fn resume(totals: EndpointTotals) -> Self {
        Self {
            totals,
            recent_ms: VecDeque::new(),
        }
    }

    /// The totals to persist with the outcome just counted.
    pub fn totals(&self) -> &EndpointTotals {
        &self.totals
    }

    /// Unix ms of the first failure since the last success.
    pub fn failing_since(&self) -> Option<u64> {
        self.totals.failing_since
    }

    /// Move the `disable_after` clock (the verdict decides where to).
    pub fn set_failing_since(&mut self, at: Option<u64>) {
        self.totals.failing_since = at;
    }

    /// Record one attempt: its number, latency, and whether it succeeded.
    pub fn attempt(&mut self, n: u32, latency_ms: f64, success: bool, now_ms: u64) {
        let t = &mut self.totals;
        t.attempts += 1;
        if n > 1 {
            t.retries += 1;
        }
        t.latency_sum_ms += latency_ms;
        if self.recent_ms.len() == LATENCY_WINDOW {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(latency_ms);
        if success {
            self.totals.last_success_at = Some(now_ms);
        } else {
            self.totals.last_failure_at = Some(now_ms);
        }
    }

    /// A delivery succeeded.
    pub fn delivered(&mut self) {
        self.totals.delivered += 1;
    }

    /// An attempt failed and will be retried.
    pub fn failed(&mut self) {
        self.totals.failed += 1;
    }

    /// A delivery was dead-lettered.
    pub fn dead(&mut self) {
        self.totals.dead += 1;
    }

    /// A delivery was filtered.
    pub fn filtered(&mut self) {
        self.totals.filtered += 1;
    }

    /// `n` matched events were turned away by the endpoint's filter.
    pub fn filtered_out(&mut self, n: u64) {
        self.totals.filtered_out += n;
    }

    /// The summary.
    pub fn view(&self) -> StatsView {
        let mut sorted: Vec<f64> = self.recent_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let t = &self.totals;
        let finished = t.delivered + t.dead;
        StatsView {
            delivered: t.delivered,
            failed: t.failed,
            dead: t.dead,
            filtered: t.filtered,
            filtered_out: t.filtered_out,
            retries: t.retries,
            attempts: t.attempts,
            success_rate: (finished > 0).then(|| t.delivered as f64 / finished as f64),
            latency_ms: Latency {
                avg: if t.attempts == 0 {
                    0.0
                } else {
                    t.latency_sum_ms / t.attempts as f64
                },
                p50: percentile(&sorted, 0.50),
                p95: percentile(&sorted, 0.95),
                p99: percentile(&sorted, 0.99),
            },
            last_success_at: t.last_success_at,
            last_failure_at: t.last_failure_at,
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
    fn resumed_totals_keep_counting_from_the_stored_values() {
        let mut s = Stats::default();
        s.attempt(1, 10.0, false, 7);
        s.failed();
        s.set_failing_since(Some(7));
        let mut again = Stats::resume(s.totals().clone());
        again.attempt(2, 30.0, true, 9);
        again.delivered();
        let v = again.view();
        assert_eq!((v.attempts, v.failed, v.delivered, v.retries), (2, 1, 1, 1));
        assert_eq!(v.latency_ms.avg, 20.0);
        assert_eq!(again.failing_since(), Some(7));
        // Percentiles only know this process's attempts.
        assert_eq!(v.latency_ms.p50, 30.0);
    }

    #[test]
    fn empty_stats_have_no_rate() {
        let v = Stats::default().view();
        assert_eq!(v.success_rate, None);
        assert_eq!(v.latency_ms.p95, 0.0);
    }
}
