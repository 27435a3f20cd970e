//! Policies' settings as plain values (`retry`, `circuit_breaker`,
//! `rate_limit` in the endpoint schema) with their validation. What they do
//! lives with the logic: `endpoint::retry`, `endpoint::breaker`, `endpoint::rate`.

use serde::{Deserialize, Serialize};

use super::Dur;

/// How delays grow between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `initial_delay · multiplierⁿ⁻¹`.
    #[default]
    Exponential,
    /// `initial_delay + increment · (n-1)`.
    Linear,
    /// Always `initial_delay`.
    Fixed,
}

/// How randomness spreads retries so that receivers are not hit in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay/2, delay]`; the default: spreads load, never retries instantly.
    #[default]
    Equal,
    /// Uniform in `[initial_delay, 3 · previous delay]` (AWS "decorrelated jitter").
    Decorrelated,
}

/// An endpoint's retry policy (`retry` in the endpoint schema).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Growth strategy. Default `exponential`.
    pub strategy: Strategy,
    /// Attempts in total, the first included, before the delivery is dead-lettered. Default 8.
    pub max_attempts: u32,
    /// Delay before the second attempt. Default `"5s"`.
    pub initial_delay: Dur,
    /// Factor for `exponential`. Default 2.0.
    pub multiplier: f64,
    /// Step for `linear`; defaults to `initial_delay` when absent.
    pub increment: Option<Dur>,
    /// Cap on any delay, `Retry-After` included. Default `"1h"`.
    pub max_delay: Dur,
    /// Jitter. Default `equal`.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            strategy: Strategy::Exponential,
            max_attempts: 8,
            initial_delay: Dur::secs(5),
            multiplier: 2.0,
            increment: None,
            max_delay: Dur::secs(3600),
            jitter: Jitter::Equal,
        }
    }
}

impl RetryPolicy {
    /// Problems with this policy, as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.max_attempts == 0 || self.max_attempts > 100 {
            out.push(("max_attempts".into(), "must be between 1 and 100".into()));
        }
        if !(self.multiplier.is_finite() && (1.0..=100.0).contains(&self.multiplier)) {
            out.push(("multiplier".into(), "must be between 1.0 and 100.0".into()));
        }
        if self.max_delay.get() < self.initial_delay.get() {
            out.push(("max_delay".into(), "must be at least initial_delay".into()));
        }
        out
    }
}

/// Breaker settings (`circuit_breaker` in the endpoint schema).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker. Default 5.
    pub failure_threshold: u32,
    /// How long it stays open before trial attempts. Default `"30s"`.
    pub reset_timeout: Dur,
    /// Trial attempts allowed while half-open. Default 1.
    pub half_open_requests: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            reset_timeout: Dur::secs(30),
            half_open_requests: 1,
        }
    }
}

impl BreakerConfig {
    /// Problems with these settings, as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.failure_threshold == 0 {
            out.push(("failure_threshold".into(), "must be at least 1".into()));
        }
        if self.half_open_requests == 0 {
            out.push(("half_open_requests".into(), "must be at least 1".into()));
        }
        if self.reset_timeout.get().is_zero() {
            out.push(("reset_timeout".into(), "must be greater than zero".into()));
        }
        out
    }
}

/// `rate_limit` in the endpoint schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained attempts per second (may be fractional, e.g. 0.5).
    pub per_second: f64,
    /// Attempts allowed in a burst after idling. Default: `per_second` rounded up (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl RateLimit {
    /// Problems, as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(self.per_second.is_finite() && self.per_second > 0.0 && self.per_second <= 100_000.0) {
            out.push((
                "rate_limit.per_second".into(),
                "must be greater than 0 and at most 100000".into(),
            ));
        }
        if self.burst == Some(0) {
            out.push(("rate_limit.burst".into(), "must be at least 1".into()));
        }
        out
    }

    /// The bucket size: `burst`, or `per_second` rounded up (at least 1).
    pub fn burst(&self) -> f64 {
        f64::from(
            self.burst
                .unwrap_or_else(|| self.per_second.ceil().max(1.0) as u32),
        )
    }
}
