//! Per-endpoint gauges as the engine's own state, rendered at scrape time.
//!
//! Why not `metrics::gauge!`: the facade cannot remove a series, so a deleted
//! or renamed endpoint's queue depth or "paused" status would be exported
//! until the process restarts, and alerts on it would fire for ever. Endpoint
//! actors write their current values here (keyed by endpoint id, so a rename
//! replaces the row), the bus removes the row on delete, and `/metrics`
//! renders exactly the endpoints that exist.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One endpoint's gauges.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointRow {
    /// The endpoint's current name (the `endpoint` label).
    pub name: String,
    /// Deliveries waiting (memory and store).
    pub queue_depth: usize,
    /// Attempts in flight now.
    pub in_flight: usize,
    /// Dead letters in the store.
    pub dead_letters: u64,
    /// 0 closed, 1 half-open, 2 open.
    pub circuit: f64,
    /// 0 active, 1 paused, 2 disabled.
    pub status: u8,
}

/// The current rows, by endpoint id.
#[derive(Debug, Default)]
pub struct Board(Mutex<BTreeMap<String, EndpointRow>>);

impl Board {
    /// Set an endpoint's row (its name may have changed).
    pub fn set(&self, endpoint_id: &str, row: EndpointRow) {
        self.lock().insert(endpoint_id.to_string(), row);
    }

    /// Forget a deleted endpoint.
    pub fn remove(&self, endpoint_id: &str) {
        self.lock().remove(endpoint_id);
    }

    /// `f` of one endpoint's row (none if it has none), read under the
    /// lock without copying it (the publish path asks per target).
    pub fn with_row<R>(&self, endpoint_id: &str, f: impl FnOnce(Option<&EndpointRow>) -> R) -> R {
        f(self.lock().get(endpoint_id))
    }

    /// Every row, by endpoint id.
    pub fn rows(&self) -> Vec<(String, EndpointRow)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, EndpointRow>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
