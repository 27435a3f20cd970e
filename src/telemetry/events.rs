//! One struct per happening; `emit()` writes the tracing line and updates metrics.
#![allow(clippy::disallowed_macros)] // the one place metrics macros are allowed

use std::time::Duration;

use metrics::{counter, histogram};

use super::handles::EndpointHandles;

use super::names;
use crate::model::CircuitState as BreakerState;

/// A group commit (one batch, one fsync) finished.
pub struct StoreCommitted {
    /// Write plus fsync time.
    pub elapsed: Duration,
    /// Publishes in the group.
    pub group: usize,
}

impl StoreCommitted {
    /// Record it.
    pub fn emit(self) {
        histogram!(names::STORE_COMMIT_DURATION).record(self.elapsed);
        tracing::trace!(
            group = self.group,
            elapsed_us = self.elapsed.as_micros() as u64,
            "Group commit written."
        );
    }
}

/// Events were accepted and made durable.
pub struct EventsPublished {
    /// How many.
    pub count: u64,
    /// `user` (a publisher's) or `operational` (the engine's own `hookbus.*`).
    pub kind: &'static str,
}

impl EventsPublished {
    /// Record it.
    pub fn emit(self) {
        counter!(names::EVENTS_PUBLISHED, "kind" => self.kind).increment(self.count);
    }
}

/// Matched events an endpoint's `filter` turned away before any delivery.
pub struct EventsFilteredOut<'a> {
    /// The endpoint's label.
    pub endpoint: &'a str,
    /// How many.
    pub count: u64,
}

impl EventsFilteredOut<'_> {
    /// Record it.
    pub fn emit(self) {
        counter!(names::EVENTS_FILTERED_OUT, "endpoint" => self.endpoint.to_string())
            .increment(self.count);
    }
}

/// A publish was refused before anything was acknowledged.
pub struct PublishRefused {
    /// One of [`names::REFUSALS`].
    pub reason: &'static str,
}

impl PublishRefused {
    /// Record it.
    pub fn emit(self) {
        counter!(names::PUBLISH_REFUSED, "reason" => self.reason).increment(1);
    }
}

/// The engine started: every global family exists from now on, at 0.
pub struct EngineStarted;

impl EngineStarted {
    /// Record it.
    pub fn emit(self) {
        for kind in names::EVENT_KINDS {
            counter!(names::EVENTS_PUBLISHED, "kind" => *kind).increment(0);
        }
        for reason in names::REFUSALS {
            counter!(names::PUBLISH_REFUSED, "reason" => *reason).increment(0);
        }
        // Registering a histogram makes its (empty) buckets, _sum and _count appear.
        let _ = histogram!(names::STORE_COMMIT_DURATION);
        let _ = histogram!(names::TRANSFORM_DURATION);
    }
}

/// An endpoint exists (created, loaded at start, or renamed): every one of
/// its counter and histogram series exists from now on, at 0 — so an endpoint
/// at 0 % success is in the success-rate query, not absent from it.
pub struct EndpointSeries<'a> {
    /// Endpoint name.
    pub endpoint: &'a str,
}

impl EndpointSeries<'_> {
    /// Record it.
    pub fn emit(self) {
        // The attempt and delivery families: the same handles the endpoint
        // records into, each counter touched at 0.
        EndpointHandles::new(self.endpoint).touch();
        let ep = self.endpoint.to_string();
        counter!(names::TRANSFORM_ERRORS, "endpoint" => ep.clone()).increment(0);
        counter!(names::EVENTS_FILTERED_OUT, "endpoint" => ep).increment(0);
    }
}

/// One HTTP attempt finished.
pub struct AttemptFinished<'a> {
    /// The endpoint's series (and its name).
    pub endpoint: &'a EndpointHandles,
    /// Bounded result label.
    pub result: &'static str,
    /// Attempt duration.
    pub elapsed: Duration,
    /// Attempt number.
    pub attempt: u32,
    /// Delivery id (log only, never a label).
    pub delivery_id: &'a str,
}

impl AttemptFinished<'_> {
    /// Record it.
    pub fn emit(self) {
        self.endpoint.attempt(self.result, self.elapsed);
        tracing::debug!(
            endpoint = self.endpoint.name(),
            delivery = self.delivery_id,
            attempt = self.attempt,
            result = self.result,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "Attempt finished."
        );
    }
}

/// How a delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered.
    Success,
    /// Failed an attempt; a retry is scheduled.
    Failed,
    /// Dead-lettered.
    Dead,
    /// Skipped by a transform.
    Filtered,
}

impl DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Success => "success",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Dead => "dead",
            DeliveryOutcome::Filtered => "filtered",
        }
    }
}

/// A delivery reached an outcome.
pub struct DeliveryFinished<'a> {
    /// The endpoint's series (and its name).
    pub endpoint: &'a EndpointHandles,
    /// Outcome.
    pub outcome: DeliveryOutcome,
    /// Publish-to-now, for successes.
    pub end_to_end: Option<Duration>,
    /// Delivery id (log only).
    pub delivery_id: &'a str,
    /// Attempts made so far (log only).
    pub attempt: u32,
    /// Reason, for failures: the status (`HTTP 503`) or the error.
    pub reason: Option<&'a str>,
    /// Unix ms of the scheduled retry, for `Failed` (log only).
    pub next_attempt_at: Option<u64>,
}

impl DeliveryFinished<'_> {
    /// Record it.
    pub fn emit(self) {
        self.endpoint
            .delivery(self.outcome.label(), self.end_to_end);
        match self.outcome {
            DeliveryOutcome::Dead => tracing::warn!(
                endpoint = self.endpoint.name(),
                delivery = self.delivery_id,
                attempt = self.attempt,
                reason = self.reason.unwrap_or(""),
                "Delivery dead-lettered."
            ),
            // At info, so an operator sees the backoff without raising the level.
            DeliveryOutcome::Failed => tracing::info!(
                endpoint = self.endpoint.name(),
                delivery = self.delivery_id,
                attempt = self.attempt,
                reason = self.reason.unwrap_or(""),
                next_attempt_at = %self.next_attempt_at.map(crate::ids::rfc3339_ms).unwrap_or_default(),
                "Attempt failed; retry scheduled."
            ),
            _ => tracing::debug!(
                endpoint = self.endpoint.name(),
                delivery = self.delivery_id,
                outcome = self.outcome.label(),
                "Delivery finished."
            ),
        }
    }
}

/// An endpoint's gauges changed.
pub struct EndpointGauges<'a> {
    /// Where they are kept for the next scrape (none in isolated tests).
    pub board: Option<&'a super::board::Board>,
    /// Endpoint id (the board's key: a rename replaces the row).
    pub endpoint_id: &'a str,
    /// Endpoint name.
    pub endpoint: &'a str,
    /// Deliveries waiting.
    pub queue_depth: usize,
    /// Attempts in flight.
    pub in_flight: usize,
    /// Dead letters in the store.
    pub dead_letters: u64,
    /// Breaker state.
    pub circuit: BreakerState,
    /// 0 active, 1 paused, 2 disabled.
    pub status: u8,
}

impl EndpointGauges<'_> {
    /// Record it (rendered at scrape time from the board, so deleted and
    /// renamed endpoints leave no series behind).
    pub fn emit(self) {
        if let Some(board) = self.board {
            board.set(
                self.endpoint_id,
                super::board::EndpointRow {
                    name: self.endpoint.to_string(),
                    queue_depth: self.queue_depth,
                    in_flight: self.in_flight,
                    dead_letters: self.dead_letters,
                    circuit: self.circuit.as_gauge(),
                    status: self.status,
                },
            );
        }
    }
}

/// The breaker of an endpoint changed state.
pub struct CircuitChanged<'a> {
    /// Endpoint name.
    pub endpoint: &'a str,
    /// New state.
    pub state: BreakerState,
}

impl CircuitChanged<'_> {
    /// Record it.
    pub fn emit(self) {
        // The gauge itself is rendered from the board (see EndpointGauges).
        match self.state {
            BreakerState::Open => {
                tracing::warn!(endpoint = self.endpoint, "Circuit opened; attempts paused.")
            }
            _ => {
                tracing::info!(endpoint = self.endpoint, state = ?self.state, "Circuit state changed.")
            }
        }
    }
}

/// A transform ran (successfully or not).
pub struct TransformRan<'a> {
    /// Endpoint name.
    pub endpoint: &'a str,
    /// Run time.
    pub elapsed: Duration,
    /// Its error, if it failed: the bounded kind label and the message.
    pub error: Option<(&'static str, &'a dyn std::fmt::Display)>,
}

impl TransformRan<'_> {
    /// Record it.
    pub fn emit(self) {
        histogram!(names::TRANSFORM_DURATION).record(self.elapsed);
        if let Some((kind, e)) = self.error {
            counter!(names::TRANSFORM_ERRORS, "endpoint" => self.endpoint.to_string()).increment(1);
            tracing::warn!(endpoint = self.endpoint, kind, error = %e, "Transform failed.");
        }
    }
}
