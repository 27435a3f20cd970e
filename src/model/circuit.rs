//! A circuit breaker's state as a plain value (stats, the API, the gauge);
//! the breaker's logic is `endpoint::breaker`.

use serde::Serialize;

/// The breaker's state, as shown in stats and the `hookbus_circuit_state` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Attempts flow.
    Closed,
    /// A few trial attempts test the receiver.
    HalfOpen,
    /// No attempts until the reset timeout passes.
    Open,
}

impl CircuitState {
    /// Gauge value: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        }
    }
}
