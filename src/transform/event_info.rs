//! The event as a delivery needs it: the default body bytes, the script
//! value (converted once, shared by every endpoint that runs a script), and
//! its trace context.

use std::sync::OnceLock;

use bytes::Bytes;

/// The event data a delivery needs to be sent.
#[derive(Debug, Clone)]
pub struct EventInfo {
    /// Event id (`webhook-id`).
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// Default body bytes.
    pub body: Bytes,
    /// Acceptance time, Unix ms (end-to-end latency).
    pub accepted_ms: u64,
    /// The event as a script value, converted once for all endpoints that need it.
    pub script_value: OnceLock<rhai::Dynamic>,
    /// The publisher's W3C trace context, sent on as `traceparent`.
    pub traceparent: Option<String>,
    /// The publish span (in this process only): attempts are its children.
    pub span: Option<tracing::Span>,
}

impl EventInfo {
    /// Event data for a delivery.
    pub fn new(id: String, event_type: String, body: Bytes, accepted_ms: u64) -> Self {
        Self {
            id,
            event_type,
            body,
            accepted_ms,
            script_value: OnceLock::new(),
            traceparent: None,
            span: None,
        }
    }

    /// With the publisher's trace context and publish span.
    pub fn with_trace(mut self, traceparent: Option<String>, span: Option<tracing::Span>) -> Self {
        self.traceparent = traceparent;
        self.span = span;
        self
    }

    /// The event JSON with `rules` applied (a fresh copy; the shared event is untouched).
    pub fn redacted(&self, rules: &[String]) -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        crate::model::redact::apply(&mut v, rules);
        v
    }

    /// The event as `#{id, type, timestamp, data, metadata}` for scripts
    /// (JSON → Dynamic happens once per event, on first use).
    pub fn dynamic(&self) -> rhai::Dynamic {
        self.script_value
            .get_or_init(|| {
                // Not JSON (never, for an accepted event): `()`, as a null would be.
                crate::transform::convert::text_to_dynamic(&self.body)
                    .unwrap_or(rhai::Dynamic::UNIT)
            })
            .clone()
    }
}
