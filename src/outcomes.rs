//! Delivery outcomes for the host, in-process: what happened to each
//! delivery, as a `tokio::sync::broadcast` stream from [`crate::Hookbus::outcomes`].
//!
//! Why broadcast: a subscriber that stops reading must never slow delivery.
//! The channel keeps the last [`CAPACITY`] outcomes; a subscriber that falls
//! further behind gets `RecvError::Lagged(n)` — told how many it missed —
//! and then continues with the newest.

use std::time::Duration;

/// How many outcomes a slow subscriber can fall behind before it lags.
pub const CAPACITY: usize = 4096;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The receiver accepted it (a success code).
    Delivered,
    /// An attempt failed; another is scheduled (`next_attempt_at`).
    RetryScheduled,
    /// It failed for good (permanent status, attempts or age exhausted, a
    /// failing script) and is in the dead-letter queue (`error` says why).
    DeadLettered,
    /// A transform skipped it on purpose; nothing was sent.
    Filtered,
}

/// One delivery's outcome (after an attempt, or a transform's decision).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// What happened.
    pub kind: OutcomeKind,
    /// The endpoint's name.
    pub endpoint: String,
    /// The endpoint's id (`ep_…`).
    pub endpoint_id: String,
    /// The delivery (`dlv_…`).
    pub delivery_id: String,
    /// The event (`evt_…` or the publisher's id).
    pub event_id: String,
    /// The event type, when known.
    pub event_type: Option<String>,
    /// Attempts made so far (0 when nothing was sent).
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong (a failure's reason).
    pub error: Option<String>,
    /// How long the last attempt took, when one was made.
    pub latency: Option<Duration>,
    /// Unix ms of the next attempt, for `RetryScheduled`.
    pub next_attempt_at: Option<u64>,
}

/// The sending side, shared by every endpoint actor.
pub type Sender = tokio::sync::broadcast::Sender<Outcome>;

/// A new channel (the receiver is dropped: hosts subscribe when they want to).
pub fn channel() -> Sender {
    tokio::sync::broadcast::channel(CAPACITY).0
}
