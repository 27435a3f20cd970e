//! What one attempt sends, decided without I/O: the body a transform rendered
//! (or the event as is), the endpoint's headers, signatures over those exact
//! bytes with every secret still signing, a script's header overrides, and
//! the publisher's `traceparent`.
//!
//! Queued deliveries and the endpoint test send both build their request
//! here, so a test shows exactly what a real delivery would send.

use bytes::Bytes;

use super::deliver::{self, AttemptInput};
use super::queue::EventInfo;
use crate::model::spec::{EndpointSpec, Method};
use crate::store::records::RetiringSecret;
use crate::transform::Rendered;

/// One attempt's HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The method (a handler script may change it).
    pub method: Method,
    /// The URL (a handler script may change it).
    pub url: String,
    /// Every header, signatures included.
    pub headers: Vec<(String, String)>,
    /// The exact bytes that were signed.
    pub body: Bytes,
}

/// The endpoint's current keys plus those of secrets rotated out but still
/// in their grace period at `now_ms` (receivers may not have switched yet).
pub fn active_keys<'a>(
    spec: &EndpointSpec,
    current: &'a [Vec<u8>],
    retiring: &[RetiringSecret],
    now_ms: u64,
) -> std::borrow::Cow<'a, [Vec<u8>]> {
    if retiring.iter().all(|s| s.expires_at <= now_ms) {
        return std::borrow::Cow::Borrowed(current);
    }
    let scheme = spec.signing.scheme;
    let mut keys = current.to_vec();
    keys.extend(
        retiring
            .iter()
            .filter(|s| s.expires_at > now_ms)
            .filter_map(|s| crate::sign::key_bytes(scheme, &s.secret).ok()),
    );
    std::borrow::Cow::Owned(keys)
}

/// The request for attempt number `attempt` of `event`, started at `started_ms`.
pub fn build(
    spec: &EndpointSpec,
    keys: &[Vec<u8>],
    event: &EventInfo,
    rendered: Option<&Rendered>,
    attempt: u32,
    started_ms: u64,
) -> Outgoing {
    let (mut method, mut url) = (spec.method, spec.url.clone());
    let (mut body, mut content_type, mut extra) = (event.body.clone(), "application/json", &[][..]);
    if let Some(Rendered::Send(req)) = rendered {
        body = req.body.clone();
        content_type = &req.content_type;
        extra = &req.headers;
        method = req.method.unwrap_or(method);
        url = req.url.clone().unwrap_or(url);
    }
    let mut headers = deliver::headers(
        spec,
        keys,
        &AttemptInput {
            event_id: &event.id,
            event_type: &event.event_type,
            attempt,
            timestamp: (started_ms / 1000) as i64,
            body: &body,
            content_type,
        },
    );
    // A handler script's headers replace the endpoint's of the same name.
    for (k, v) in extra {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        headers.push((k.clone(), v.clone()));
    }
    if let (Some(tp), true) = (&event.traceparent, spec.propagate_trace) {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("traceparent"));
        headers.push(("traceparent".into(), tp.clone()));
    }
    Outgoing {
        method,
        url,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::run::Request;

    fn spec() -> EndpointSpec {
        serde_json::from_value(serde_json::json!({
            "name": "crm",
            "url": "http://127.0.0.1:9/hook",
            "events": ["order.*"],
            "signing": {"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]},
        }))
        .unwrap()
    }

    fn event() -> EventInfo {
        EventInfo::new(
            "evt_1".into(),
            "order.created".into(),
            Bytes::from_static(br#"{"id":"evt_1"}"#),
            0,
        )
    }

    fn header<'a>(o: &'a Outgoing, name: &str) -> Vec<&'a str> {
        o.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn secrets_in_their_grace_period_sign_and_expired_ones_do_not() {
        let spec = spec();
        let current = vec![b"now".to_vec()];
        let retiring = vec![
            RetiringSecret {
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                expires_at: 2_000,
            },
            RetiringSecret {
                secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into(),
                expires_at: 500,
            },
        ];
        assert_eq!(active_keys(&spec, &current, &retiring, 1_000).len(), 2);
        assert_eq!(active_keys(&spec, &current, &retiring, 2_000).len(), 1);
        assert_eq!(active_keys(&spec, &current, &[], 0).len(), 1);
    }

    #[test]
    fn a_rendered_body_is_what_is_sent_and_signed() {
        let spec = spec();
        let keys = vec![b"k1".to_vec(), b"k2".to_vec()];
        let rendered = Rendered::Send(Request {
            body: Bytes::from_static(b"{\"text\":\"hi\"}"),
            content_type: "application/json".into(),
            headers: vec![("X-Extra".into(), "1".into())],
            method: None,
            url: Some("http://127.0.0.1:9/other".into()),
        });
        let out = build(
            &spec,
            &keys,
            &event(),
            Some(&rendered),
            1,
            1_700_000_000_000,
        );
        assert_eq!(&out.body[..], b"{\"text\":\"hi\"}");
        assert_eq!(out.url, "http://127.0.0.1:9/other");
        assert_eq!(header(&out, "x-extra"), ["1"]);
        // One signature per key, over the rendered bytes.
        let sig = header(&out, "webhook-signature");
        assert_eq!(sig.len(), 1);
        assert_eq!(sig[0].split(' ').count(), 2);
        let plain = build(&spec, &keys, &event(), None, 1, 1_700_000_000_000);
        assert_eq!(&plain.body[..], br#"{"id":"evt_1"}"#);
        assert_ne!(header(&plain, "webhook-signature"), sig);
    }
}
