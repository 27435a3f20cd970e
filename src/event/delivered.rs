//! An accepted event: as stored and as delivered (format `json`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::raw::RawPayload;
use super::request::PublishRequest;
use crate::ids;

/// An accepted event, as stored and as delivered (format `json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// `evt_<ULID>` or the publisher's id.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 UTC with milliseconds, fixed at acceptance so retries send identical bytes.
    pub timestamp: String,
    /// The publisher's payload.
    pub data: Value,
    /// The publisher's metadata (`{}` when absent).
    pub metadata: Value,
}

impl Event {
    /// Accept a validated request now: assign the id and timestamp.
    pub fn accept(req: PublishRequest) -> Self {
        Self {
            id: req.id.unwrap_or_else(ids::event_id),
            event_type: req.event_type,
            timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            data: req.data,
            metadata: req
                .metadata
                .unwrap_or_else(|| Value::Object(Default::default())),
        }
    }

    /// When it was accepted, Unix ms (parsed back from `timestamp`).
    pub fn accepted_ms(&self) -> Option<u64> {
        rfc3339_ms(&self.timestamp)
    }

    /// The default delivered body: `{"id","type","timestamp","data","metadata"}`.
    pub fn body(&self) -> bytes::Bytes {
        // Serialising a struct of plain JSON values cannot fail.
        bytes::Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// [`Self::body`] with `data` and `metadata` spliced from the texts the
    /// publisher sent (the same fields, in the same order).
    pub fn body_with(&self, raw: &RawPayload) -> bytes::Bytes {
        let data = raw.data.as_deref().unwrap_or("null");
        let metadata = raw.metadata.as_deref().unwrap_or("{}");
        let mut out = Vec::with_capacity(
            96 + self.id.len() + self.event_type.len() + data.len() + metadata.len(),
        );
        // Writing strings into a Vec cannot fail.
        out.extend_from_slice(b"{\"id\":");
        let _ = serde_json::to_writer(&mut out, &self.id);
        out.extend_from_slice(b",\"type\":");
        let _ = serde_json::to_writer(&mut out, &self.event_type);
        out.extend_from_slice(b",\"timestamp\":");
        let _ = serde_json::to_writer(&mut out, &self.timestamp);
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b",\"metadata\":");
        out.extend_from_slice(metadata.as_bytes());
        out.push(b'}');
        bytes::Bytes::from(out)
    }
}

/// An RFC 3339 UTC timestamp (as events carry) in Unix ms.
pub fn rfc3339_ms(timestamp: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339(timestamp).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_fields_and_is_stable() {
        let ev = Event::accept(PublishRequest::new("a.b", serde_json::json!({"x": 1})));
        let v: Value = serde_json::from_slice(&ev.body()).unwrap();
        assert_eq!(v["type"], "a.b");
        assert_eq!(v["data"]["x"], 1);
        assert!(v["metadata"].is_object());
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(ev.body(), ev.body());
        let accepted = ev.accepted_ms().unwrap();
        assert!(crate::ids::now_ms().abs_diff(accepted) < 5_000);
    }
}
