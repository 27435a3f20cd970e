//! An HTTP publish's payload kept as text.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::request::PublishRequest;

/// An HTTP publish's `data` and `metadata` as the publisher's JSON had
/// them, kept as text (whitespace outside strings removed): the delivered
/// body is spliced from it, and the JSON tree is built only for what reads
/// the payload — a catalogued type's schema, an endpoint's filter. Building
/// the tree for every publish (an ordered map, a string per key and per
/// number) was ~12 % of the engine's CPU per event (docs/BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct RawPayload {
    /// `data`'s text; none when absent or `null`.
    pub(super) data: Option<String>,
    /// `metadata`'s text (an object); none when absent or `null`.
    pub(super) metadata: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

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
}
