//! Events: the publish request, its validation, and the body delivered by default.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::ids;

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

/// An HTTP publish's `data` and `metadata` as the publisher's JSON had
/// them, kept as text (whitespace outside strings removed): the delivered
/// body is spliced from it, and the JSON tree is built only for what reads
/// the payload — a catalogued type's schema, an endpoint's filter. Building
/// the tree for every publish (an ordered map, a string per key and per
/// number) was ~12 % of the engine's CPU per event (docs/BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct RawPayload {
    /// `data`'s text; none when absent or `null`.
    data: Option<String>,
    /// `metadata`'s text (an object); none when absent or `null`.
    metadata: Option<String>,
}

/// [`PublishRequest`]'s JSON with the payload left as text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape<'a> {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Deepest nesting kept as text. Deeper payloads take the tree parse, whose
/// recursion limit (128 levels, the request object included) answers them
/// as before: the text scan has no limit of its own.
const RAW_MAX_DEPTH: usize = 100;

impl RawPayload {
    /// The payload of a request body, when it can be kept as text: the
    /// request (its `data` and `metadata` left empty) and their texts.
    /// `None` for anything else — malformed or misshapen JSON, metadata
    /// that is not an object, nesting deeper than `RAW_MAX_DEPTH` — so
    /// the caller parses the tree, which also words every error as before.
    ///
    /// # Examples
    /// ```
    /// use hookbus::event::RawPayload;
    /// let body = br#"{"type": "order.created", "data": {"id": 1, "total": 9.90}}"#;
    /// let (req, raw) = RawPayload::parse(body).unwrap();
    /// assert_eq!(req.event_type, "order.created");
    /// assert_eq!(raw.data_text(), Some(r#"{"id":1,"total":9.90}"#));
    /// ```
    pub fn parse(body: &[u8]) -> Option<(PublishRequest, Self)> {
        Self::from_shape(serde_json::from_slice(body).ok()?)
    }

    /// [`Self::parse`] for a `POST /v1/events/batch` body (`{"events": […]}`):
    /// every event kept as text, or `None` for the tree parse of all of them.
    pub fn parse_batch(body: &[u8]) -> Option<Vec<(PublishRequest, Self)>> {
        /// The batch body with each event's payload left as text.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Batch<'a> {
            #[serde(borrow)]
            events: Vec<Shape<'a>>,
        }
        let batch: Batch<'_> = serde_json::from_slice(body).ok()?;
        batch.events.into_iter().map(Self::from_shape).collect()
    }

    fn from_shape(s: Shape<'_>) -> Option<(PublishRequest, Self)> {
        let metadata = match s.metadata {
            Some(m) if !m.get().starts_with('{') => return None,
            Some(m) => Some(compact(m.get())?),
            None => None,
        };
        let data = match s.data {
            Some(d) => Some(compact(d.get())?),
            None => None,
        };
        let mut req = PublishRequest::new(s.event_type, Value::Null);
        req.id = s.id;
        req.idempotency_key = s.idempotency_key;
        Some((req, Self { data, metadata }))
    }

    /// The length of `req`'s JSON with this payload, as the tree's
    /// serialisation counts it (the batch limit per event).
    pub fn request_len(&self, req: &PublishRequest) -> usize {
        let quoted = |s: &str| serde_json::to_string(s).map_or(0, |q| q.len());
        let mut n = r#"{"type":,"data":}"#.len() + quoted(&req.event_type);
        n += self.data.as_ref().map_or(4, String::len);
        if let Some(m) = &self.metadata {
            n += r#","metadata":"#.len() + m.len();
        }
        if let Some(id) = &req.id {
            n += r#","id":"#.len() + quoted(id);
        }
        if let Some(k) = &req.idempotency_key {
            n += r#","idempotency_key":"#.len() + quoted(k);
        }
        n
    }

    /// `data` as text (none when absent or `null`).
    pub fn data_text(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// Build the tree into `event`'s `data` and `metadata`, for a check
    /// that reads them (the body is still spliced from the text).
    pub(crate) fn fill(&self, data: &mut Value, metadata: &mut Value) {
        // Cannot fail: the texts were checked by the parse that kept them,
        // and their depth is within the tree parse's limit.
        if let Some(d) = &self.data {
            *data = serde_json::from_str(d).unwrap_or(Value::Null);
        }
        if let Some(m) = &self.metadata {
            *metadata = serde_json::from_str(m).unwrap_or_default();
        }
    }
}

/// `json` (checked JSON text) without whitespace outside strings; `None`
/// when nested deeper than [`RAW_MAX_DEPTH`].
///
/// Runs on every published payload, so it copies runs between whitespace
/// rather than byte by byte, jumps through strings with `memchr`, and
/// skips the UTF-8 check when nothing was dropped (the common case: a
/// publisher's serialiser writes compact JSON).
fn compact(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let (mut depth, mut i, mut run) = (0usize, 0, 0);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i += 1;
                // Checked JSON: every string is closed, and a backslash is
                // followed by an ASCII character.
                while let Some(j) = memchr::memchr2(b'"', b'\\', bytes.get(i..).unwrap_or_default())
                {
                    i += j + 1;
                    if bytes[i - 1] == b'"' {
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                out.extend_from_slice(&bytes[run..i]);
                run = i + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > RAW_MAX_DEPTH {
                    return None;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    match out {
        None => Some(json.to_owned()),
        Some(mut out) => {
            out.extend_from_slice(bytes.get(run..).unwrap_or_default());
            // Only ASCII whitespace between tokens was dropped from valid
            // UTF-8, so this cannot fail.
            String::from_utf8(out).ok()
        }
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

    /// The same event through the tree and through the text.
    fn both_ways(body: &str) -> (bytes::Bytes, bytes::Bytes) {
        let (req, raw) = RawPayload::parse(body.as_bytes()).expect("kept as text");
        let mut tree: PublishRequest = serde_json::from_str(body).unwrap();
        tree.id = Some("evt_1".into());
        let mut via_text = Event::accept(req.with_id("evt_1"));
        let via_tree = Event::accept(tree);
        via_text.timestamp = via_tree.timestamp.clone();
        (via_text.body_with(&raw), via_tree.body())
    }

    #[test]
    fn a_payload_kept_as_text_is_delivered_as_the_tree_would_deliver_it() {
        let body = r#"{
            "type": "order.created",
            "data": {"b": 1, "a": [1.50, -0.0, {"z": null, "y": "x y\"z\\"}],
                     "big": 123456789012345678901234567890, "unicode": "é ✓"},
            "metadata": {"source": "shop", "n": { } }
        }"#;
        let (text, tree) = both_ways(body);
        assert_eq!(text, tree);
        assert!(
            std::str::from_utf8(&text)
                .unwrap()
                .contains(r#""y":"x y\"z\\""#)
        );
        // No data, no metadata; and explicit nulls.
        let (text, tree) = both_ways(r#"{"type": "a.b"}"#);
        assert_eq!(text, tree);
        let (text, tree) = both_ways(r#"{"type": "a.b", "data": null, "metadata": null}"#);
        assert_eq!(text, tree);
        let (text, tree) = both_ways(r#"{"type": "a.b", "data": [ ], "metadata": {}}"#);
        assert_eq!(text, tree);
        // Every kind of JSON whitespace, and none at all.
        let (text, tree) = both_ways("{\"type\":\"a.b\",\"data\":{\t\"a\" :\r\n[1 ,\"\\\\\"]}}");
        assert_eq!(text, tree);
        let (text, tree) = both_ways(r#"{"type":"a.b","data":{"a":"\\","b":"\""}}"#);
        assert_eq!(text, tree);
        // The text keeps an exponent as written, where the tree writes
        // `2e+3`: the same number, and closer to what was published.
        let (text, tree) = both_ways(r#"{"type": "a.b", "data": [2e3, 1E-2]}"#);
        let text = std::str::from_utf8(&text).unwrap();
        assert!(text.contains(r#""data":[2e3,1E-2]"#), "{text}");
        let (a, b): (Value, Value) = (
            serde_json::from_str(text).unwrap(),
            serde_json::from_slice(&tree).unwrap(),
        );
        assert_eq!(a["data"].as_array().unwrap().len(), 2);
        assert_eq!(a["data"][0].as_f64(), b["data"][0].as_f64());
        assert_eq!(a["data"][1].as_f64(), b["data"][1].as_f64());
    }

    #[test]
    fn anything_unusual_is_left_to_the_tree_parse() {
        for body in [
            "not json",
            r#"{"type": "a.b", "extra": 1}"#,
            r#"{"data": {}}"#,
            r#"{"type": "a.b", "metadata": [1]}"#,
            r#"{"type": "a.b", "metadata": "x"}"#,
            r#"{"type": "a.b", "data": {"x": 1}"#,
            r#"{"type": "a.b"} trailing"#,
        ] {
            assert!(RawPayload::parse(body.as_bytes()).is_none(), "{body}");
        }
        let deep = format!(
            r#"{{"type": "a.b", "data": {}{}}}"#,
            "[".repeat(RAW_MAX_DEPTH + 1),
            "]".repeat(RAW_MAX_DEPTH + 1)
        );
        assert!(RawPayload::parse(deep.as_bytes()).is_none());
        let ok = format!(
            r#"{{"type": "a.b", "data": {}{}}}"#,
            "[".repeat(RAW_MAX_DEPTH),
            "]".repeat(RAW_MAX_DEPTH)
        );
        assert!(RawPayload::parse(ok.as_bytes()).is_some());
        // Brackets inside strings are not nesting.
        let in_string = format!(
            r#"{{"type": "a.b", "data": ["{}"]}}"#,
            "[{".repeat(RAW_MAX_DEPTH)
        );
        assert!(RawPayload::parse(in_string.as_bytes()).is_some());
    }

    #[test]
    fn a_batch_is_kept_as_text_only_when_every_event_can_be() {
        let ok = br#"{"events": [{"type": "a.b", "data": {"x": 1}}, {"type": "c.d"}]}"#;
        let kept = RawPayload::parse_batch(ok).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].1.data_text(), Some(r#"{"x":1}"#));
        let one_odd = br#"{"events": [{"type": "a.b"}, {"type": "c.d", "metadata": 1}]}"#;
        assert!(RawPayload::parse_batch(one_odd).is_none());
        assert!(RawPayload::parse_batch(br#"{"events": [], "x": 1}"#).is_none());
    }

    #[test]
    fn the_request_length_is_counted_as_the_tree_serialises_it() {
        for body in [
            r#"{"type": "a.b"}"#,
            r#"{"type": "a.b", "data": {"x": [1, "é"]}, "metadata": {"m": true}}"#,
            r#"{"type": "a.b", "data": null, "id": "e\"1", "idempotency_key": "k"}"#,
        ] {
            let (req, raw) = RawPayload::parse(body.as_bytes()).unwrap();
            let tree: PublishRequest = serde_json::from_str(body).unwrap();
            assert_eq!(
                raw.request_len(&req),
                serde_json::to_vec(&tree).unwrap().len(),
                "{body}"
            );
        }
    }

    #[test]
    fn the_tree_is_built_from_the_text_when_a_check_needs_it() {
        let (_, raw) =
            RawPayload::parse(br#"{"type": "a.b", "data": {"total": 7}, "metadata": {"k": "v"}}"#)
                .unwrap();
        let (mut data, mut metadata) = (Value::Null, serde_json::json!({}));
        raw.fill(&mut data, &mut metadata);
        assert_eq!(data, serde_json::json!({"total": 7}));
        assert_eq!(metadata, serde_json::json!({"k": "v"}));
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
