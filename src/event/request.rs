//! What a publisher sends, and the checks it must pass.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest event type accepted, in characters.
pub const MAX_TYPE_LEN: usize = 256;
/// Most dot-separated segments in an event type or pattern.
pub const MAX_SEGMENTS: usize = 16;
/// Longest caller-supplied event id or idempotency key, in characters.
pub const MAX_ID_LEN: usize = 128;

/// What a publisher sends to `POST /v1/events` (and what the library's
/// `publish` takes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Dot-separated event type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Arbitrary JSON payload; `null` when absent.
    #[serde(default)]
    pub data: Value,
    /// Optional publisher metadata delivered alongside `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Caller-chosen id; `evt_<ULID>` is generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// De-duplication key for retried publishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// W3C trace context of the publisher (the `traceparent` header of an
    /// HTTP publish, or [`PublishRequest::with_traceparent`]); sent on to
    /// receivers as `traceparent`. Not part of the JSON body.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl PublishRequest {
    /// A request for `event_type` carrying `data`.
    ///
    /// # Examples
    /// ```
    /// let ev = hookbus::event::PublishRequest::new("order.created", serde_json::json!({"id": 1}));
    /// assert_eq!(ev.event_type, "order.created");
    /// ```
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        Self {
            event_type: event_type.into(),
            data,
            metadata: None,
            id: None,
            idempotency_key: None,
            traceparent: None,
        }
    }

    /// A request for `event_type` whose data is `data` serialised to JSON.
    ///
    /// # Examples
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Order { id: u64, total: &'static str }
    /// let ev = hookbus::PublishRequest::json("order.created", &Order { id: 7, total: "9.90" })?
    ///     .with_idempotency_key("order-7-created")
    ///     .with_metadata(serde_json::json!({"source": "shop"}));
    /// assert_eq!(ev.data["id"], 7);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(
        event_type: impl Into<String>,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self::new(event_type, serde_json::to_value(data)?))
    }

    /// Use this id instead of a generated `evt_<ULID>` (a repeat is a conflict).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Metadata delivered alongside `data` (a JSON object).
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Repeating this key within 24 h returns the first receipt and delivers nothing new.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Carry the host's W3C trace context (`00-<trace id>-<span id>-<flags>`)
    /// to every receiver as the `traceparent` header; ignored unless well formed.
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        let tp = traceparent.into();
        self.traceparent = is_traceparent(&tp).then_some(tp);
        self
    }

    /// Every problem with this request, as `(field, reason)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = validate_event_type(&self.event_type) {
            out.push(("type".to_string(), e));
        }
        if let Some(id) = &self.id {
            if let Err(e) = validate_token(id) {
                out.push(("id".to_string(), e));
            }
        }
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.chars().count() > MAX_ID_LEN {
                out.push((
                    "idempotency_key".to_string(),
                    format!("must be 1..={MAX_ID_LEN} characters"),
                ));
            }
        }
        if let Some(m) = &self.metadata {
            if !m.is_object() {
                out.push(("metadata".to_string(), "must be a JSON object".to_string()));
            }
        }
        out
    }
}

/// A well-formed W3C `traceparent` (version 00): `00-` 32 hex `-` 16 hex `-` 2 hex,
/// with non-zero ids. Anything else is ignored, as the W3C spec asks.
pub fn is_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

/// Whether `t` is in the namespace hookbus keeps for its operational events
/// (`hookbus.…`), which publishers may not use.
pub fn is_reserved_type(t: &str) -> bool {
    t == "hookbus" || t.starts_with("hookbus.")
}

/// Check an event type: 1–16 dot-separated segments of `[A-Za-z0-9_-]+`,
/// at most 256 characters.
///
/// # Examples
/// ```
/// use hookbus::event::validate_event_type;
/// assert!(validate_event_type("order.created").is_ok());
/// assert!(validate_event_type("order..created").is_err());
/// ```
pub fn validate_event_type(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.len() > MAX_TYPE_LEN {
        return Err(format!("must be at most {MAX_TYPE_LEN} characters"));
    }
    let mut n = 0;
    for seg in t.split('.') {
        n += 1;
        if seg.is_empty() {
            return Err("segments must not be empty (no leading, trailing or double dots)".into());
        }
        if !seg.bytes().all(is_segment_byte) {
            return Err(format!(
                "segment `{seg}` may only contain letters, digits, `_` and `-`"
            ));
        }
    }
    if n > MAX_SEGMENTS {
        return Err(format!("must have at most {MAX_SEGMENTS} segments"));
    }
    Ok(())
}

/// Whether `b` may appear in an event-type segment.
pub(crate) fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Check a caller-supplied id: 1–128 characters of `[A-Za-z0-9_.:-]`.
fn validate_token(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("must be 1..={MAX_ID_LEN} characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err("may only contain letters, digits, `_`, `-`, `.` and `:`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_types() {
        let sixteen = vec!["a"; 16].join(".");
        for t in ["a", "order.created", "A-b_c.9", &sixteen] {
            assert!(validate_event_type(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn rejects_malformed_types() {
        let long = "a".repeat(257);
        let deep = vec!["a"; 17].join(".");
        for t in ["", ".a", "a.", "a..b", "a b", "a.*", "ä", &long, &deep] {
            assert!(validate_event_type(t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let mut r = PublishRequest::new("bad..type", Value::Null);
        r.id = Some("has space".into());
        r.metadata = Some(serde_json::json!([1]));
        let fields: Vec<_> = r.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["type", "id", "metadata"]);
    }
}
