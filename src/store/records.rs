//! Records kept in the store: JSON-encoded so they stay readable with `ldb`,
//! except the per-delivery rows (delivery state, attempts), which `codec.rs`
//! writes in a compact binary form.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::model::app::{self, AppSpec};
use crate::model::event_type::EventTypeSpec;
use crate::model::spec::EndpointSpec;
use crate::model::{PublishReceipt, ReceiptDelivery};

/// An endpoint as stored: the user's spec plus what hookbus assigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// `ep_<ULID>`.
    pub id: String,
    /// The application it belongs to (absent in rows of the default one).
    #[serde(default = "app::default_id", skip_serializing_if = "is_default_app")]
    pub app: String,
    /// That application's uid, for the `endpoint` metric label (uids never change).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_uid: String,
    /// The declared endpoint (secrets included; redact before showing).
    pub spec: EndpointSpec,
    /// Creation time, Unix ms.
    pub created_at: u64,
    /// Last change, Unix ms.
    pub updated_at: u64,
    /// Bumped on every change, so actors can ignore stale updates.
    pub version: u64,
    /// Secrets replaced by a rotation that keep signing until they expire.
    #[serde(default)]
    pub retiring_secrets: Vec<RetiringSecret>,
    /// For endpoints declared in the config file (or by the library): keyed
    /// fingerprints of each declared field when it was last applied (see
    /// `bus::last_applied`); none for endpoints made through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

impl EndpointRecord {
    /// Its `endpoint` metric label: the name, prefixed by the application's
    /// uid outside the default application.
    pub fn label(&self) -> String {
        app::endpoint_label(&self.app_uid, &self.spec.name)
    }
}

/// Field → keyed fingerprint of its declared value when it was last applied.
pub type Applied = std::collections::BTreeMap<String, String>;

/// A rotated-out secret still in its grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    /// The secret.
    pub secret: String,
    /// When it stops signing, Unix ms.
    pub expires_at: u64,
}

/// An accepted event and the deliveries it fanned out to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event as delivered.
    pub event: Event,
    /// One per matched endpoint.
    pub deliveries: Vec<ReceiptDelivery>,
    /// The publisher's W3C `traceparent`, sent on with every attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The application it was published to.
    #[serde(default = "app::default_id", skip_serializing_if = "is_default_app")]
    pub app: String,
}

/// What an attempt needs of a stored event: the body as it was stored, with
/// its id, type and time, read without building a JSON tree of the payload.
///
/// Why: a delivery paged in from the durable queue (a backlog, a burst, a
/// restart) has only its event id; parsing the whole row into a
/// `serde_json::Value` and serialising it again, with the read, took about
/// a fifth of its delivery thread in a drain (docs/BENCHMARKS.md), and
/// changed the bytes of a payload kept as text (`\u00e9` became `é`). The stored
/// `event` field *is* the delivered body (`Changes::event` writes it as
/// such), so its text is sent as it is: the same bytes as every other attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct EventToSend {
    /// The event id.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// Its acceptance time as delivered (RFC 3339).
    pub timestamp: String,
    /// The default delivered body.
    pub body: bytes::Bytes,
    /// The publisher's W3C `traceparent`.
    pub traceparent: Option<String>,
}

impl EventToSend {
    /// Read it from an event row.
    pub(super) fn from_row(row: &[u8]) -> Result<Self, super::DecodeError> {
        use serde_json::value::RawValue;
        #[derive(Deserialize)]
        struct Row<'a> {
            #[serde(borrow)]
            event: &'a RawValue,
            #[serde(default)]
            traceparent: Option<String>,
        }
        // Only the head of the body: the payload is skipped, not built.
        #[derive(Deserialize)]
        struct Head {
            id: String,
            #[serde(rename = "type")]
            event_type: String,
            timestamp: String,
        }
        let row: Row = serde_json::from_slice(row)?;
        let head: Head = serde_json::from_str(row.event.get())?;
        Ok(Self {
            id: head.id,
            event_type: head.event_type,
            timestamp: head.timestamp,
            body: bytes::Bytes::copy_from_slice(row.event.get().as_bytes()),
            traceparent: row.traceparent,
        })
    }

    /// Acceptance time, Unix ms.
    pub fn accepted_ms(&self) -> Option<u64> {
        crate::event::rfc3339_ms(&self.timestamp)
    }
}

/// serde `skip_serializing_if`: rows of the default application are written
/// exactly as before applications existed.
fn is_default_app(id: &str) -> bool {
    app::is_default(id)
}

/// Lifecycle of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt (or for a paused endpoint / open breaker).
    Pending,
    /// The last attempt failed; another is scheduled.
    Failed,
    /// A receiver accepted it.
    Delivered,
    /// Gave up: in the dead-letter queue (a failed test send is dead but not listed there).
    Dead,
    /// A transform chose to skip it.
    Filtered,
}

impl DeliveryStatus {
    /// Whether the delivery still needs attempts.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Failed)
    }
}

/// A delivery's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// `dlv_<ULID>`.
    pub id: String,
    /// Its event.
    pub event_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// Its endpoint's application.
    #[serde(default = "app::default_id", skip_serializing_if = "is_default_app")]
    pub app: String,
    /// Where it is in its lifecycle.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Creation time, Unix ms.
    pub created_at: u64,
    /// Last change, Unix ms.
    pub updated_at: u64,
    /// Earliest time of the next attempt, Unix ms (retries).
    pub next_attempt_at: Option<u64>,
    /// Last delay used, ms (decorrelated jitter needs it).
    pub last_delay_ms: Option<u64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Its row in the `queue` column family while open.
    pub ticket: u128,
    /// Attempts made before the latest replay; `max_attempts` counts from here.
    #[serde(default)]
    pub budget_start: u32,
    /// When it last entered the queue (publish or replay), Unix ms; `expire_after` counts from here.
    #[serde(default)]
    pub queued_at: u64,
    /// An endpoint test send (`POST /v1/endpoints/{id}/test`): one attempt,
    /// never retried, never dead-lettered, outside the endpoint's stats.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// One HTTP attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub attempt: u32,
    /// Start time, Unix ms.
    pub at: u64,
    /// HTTP status, when the receiver answered.
    pub status_code: Option<u16>,
    /// Time to response (headers and up to 4 KiB of body), ms.
    pub latency_ms: f64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The first 4 KiB of the response body, lossily decoded.
    pub response_body: String,
    /// Bounded result label: 2xx, 3xx, 4xx, 5xx, timeout, connect_error.
    pub result: String,
}

/// A delivery that will not be attempted again unless replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The delivery.
    pub delivery_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// Its endpoint's application.
    #[serde(default = "app::default_id", skip_serializing_if = "is_default_app")]
    pub app: String,
    /// Its event.
    pub event_id: String,
    /// Why it was given up.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When, Unix ms.
    pub dead_at: u64,
}

/// The first answer to a publish with an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// When the key was first used, Unix ms.
    pub at: u64,
    /// What that publish answered.
    pub receipt: PublishReceipt,
}

/// What an endpoint has done since it was created, and since when it has
/// been failing: kept in the store so restarts neither reset the counts nor
/// restart the `disable_after` clock. Written by the endpoint's actor in the
/// same batch as each outcome it counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointTotals {
    /// Deliveries a receiver accepted.
    pub delivered: u64,
    /// Failed attempts that were retried.
    pub failed: u64,
    /// Deliveries dead-lettered.
    pub dead: u64,
    /// Deliveries skipped by a transform.
    pub filtered: u64,
    /// Matched events the endpoint's `filter` turned away (no delivery made).
    pub filtered_out: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Sum of every attempt's latency, ms (for the mean).
    pub latency_sum_ms: f64,
    /// Last successful attempt, Unix ms.
    pub last_success_at: Option<u64>,
    /// Last failed attempt, Unix ms.
    pub last_failure_at: Option<u64>,
    /// Unix ms of the first failure since the last success (`disable_after`).
    pub failing_since: Option<u64>,
}

/// An operational `hookbus.*` event waiting to be published: written in the
/// same batch as the outcome that caused it, removed in the same batch as its
/// publish, and published again after a failed commit or a restart, so none
/// is lost while its cause is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The event, its id already chosen (retries publish the same event).
    pub event: crate::event::PublishRequest,
    /// The endpoint it is about (which never receives it).
    pub about: String,
}

impl OutboxEntry {
    /// The event id, which is also the entry's key.
    pub fn id(&self) -> &str {
        self.event.id.as_deref().unwrap_or_default()
    }
}

/// An application as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// `app_<ULID>` (`app_default` for the default application).
    pub id: String,
    /// What the host declared.
    pub spec: AppSpec,
    /// Creation time, Unix ms.
    pub created_at: u64,
    /// Last change, Unix ms.
    pub updated_at: u64,
}

/// An application-scoped API token as stored: only its SHA-256, never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `tok_<ULID>`.
    pub id: String,
    /// The application it may act on.
    pub app: String,
    /// A label chosen at creation ("customer portal").
    #[serde(default)]
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// The token's first characters, to tell tokens apart in a list.
    pub prefix: String,
    /// Creation time, Unix ms.
    pub created_at: u64,
}

/// A catalogued event type as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventTypeRecord {
    /// What was declared.
    pub spec: EventTypeSpec,
    /// Creation time, Unix ms.
    pub created_at: u64,
    /// Last change, Unix ms.
    pub updated_at: u64,
}
