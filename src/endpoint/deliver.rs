//! One HTTP attempt: the headers (pure), and sending with awc.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures_util::StreamExt;

use super::classify::{self, Decision, Outcome};
use super::spec::{Auth, EndpointSpec, Method};
use super::ssrf::{self, Guard, GuardResolver};
use crate::sign::{self, Scheme};
use crate::store::records::AttemptRecord;

/// Most response-body bytes kept with an attempt.
pub const MAX_RESPONSE_BODY: usize = 4096;

/// `user-agent` sent with every attempt.
pub const USER_AGENT: &str = concat!("hookbus/", env!("CARGO_PKG_VERSION"));

/// What one attempt is about.
pub struct AttemptInput<'a> {
    /// The event id (`webhook-id`, identical on every retry).
    pub event_id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The exact bytes sent.
    pub body: &'a [u8],
    /// `application/json` unless a transform returned text.
    pub content_type: &'a str,
}

/// Every header of an attempt, in order: ours, signatures, the endpoint's, then auth.
pub fn headers(
    spec: &EndpointSpec,
    keys: &[Vec<u8>],
    a: &AttemptInput<'_>,
) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = vec![
        ("content-type".into(), a.content_type.into()),
        ("user-agent".into(), USER_AGENT.into()),
        ("webhook-id".into(), a.event_id.into()),
        ("webhook-timestamp".into(), a.timestamp.to_string()),
        ("x-webhook-event".into(), a.event_type.into()),
        ("x-webhook-attempt".into(), a.attempt.to_string()),
    ];
    match spec.signing.scheme {
        Scheme::Standard if !keys.is_empty() => h.push((
            "webhook-signature".into(),
            sign::standard_signature(keys, a.event_id, a.timestamp, a.body),
        )),
        Scheme::Sha256 if !keys.is_empty() => {
            h.push(("x-webhook-timestamp".into(), a.timestamp.to_string()));
            h.push((
                "x-webhook-signature".into(),
                sign::sha256_signature(keys, a.timestamp, a.body),
            ));
        }
        _ => {}
    }
    h.extend(spec.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    match &spec.auth {
        Auth::None => {}
        Auth::Basic { username, password } => h.push((
            "authorization".into(),
            format!("Basic {}", B64.encode(format!("{username}:{password}"))),
        )),
        Auth::Bearer { token } => h.push(("authorization".into(), format!("Bearer {token}"))),
        Auth::ApiKey { header, key } => h.push((header.clone(), key.clone())),
    }
    h
}

/// The HMAC keys of an endpoint's secrets (invalid ones were rejected at validation).
pub fn signing_keys(spec: &EndpointSpec) -> Vec<Vec<u8>> {
    if spec.signing.scheme == Scheme::None {
        return Vec::new();
    }
    spec.signing
        .secrets
        .iter()
        .filter_map(|s| sign::key_bytes(spec.signing.scheme, s).ok())
        .collect()
}

/// What came back from one attempt.
#[derive(Debug)]
pub struct AttemptResult {
    /// Status or error.
    pub outcome: Outcome,
    /// Time until the response (and its first 4 KiB) arrived.
    pub latency: Duration,
    /// The first 4 KiB of the response body.
    pub body: String,
}

impl AttemptResult {
    /// Attempt number `attempt`, started at `at` (Unix ms), as history keeps
    /// it: its error is the transport error, or why `decision` refused the
    /// status; none on success.
    pub fn record(self, attempt: u32, at: u64, decision: &Decision) -> AttemptRecord {
        let (status_code, error) = self.outcome.status_and_error();
        AttemptRecord {
            attempt,
            at,
            status_code,
            latency_ms: self.latency.as_secs_f64() * 1000.0,
            error: match (decision, error) {
                (Decision::Success, _) => None,
                (_, Some(e)) => Some(e),
                (Decision::Retry { reason, .. } | Decision::Permanent { reason }, None) => {
                    Some(reason.clone())
                }
            },
            result: classify::result_label(&self.outcome).to_string(),
            response_body: self.body,
        }
    }
}

/// An HTTP client whose every connection goes through `guard` (SSRF check
/// inside the resolver): no redirects, no connection limit (endpoint actors
/// enforce `max_in_flight`), timeouts set per request. awc is `!Send`: build
/// it on the thread that uses it (each endpoint actor owns one, so each
/// endpoint also has its own connection pool).
pub fn client(guard: &Arc<Guard>) -> awc::Client {
    let resolver = actix_tls::connect::Resolver::custom(GuardResolver(guard.clone()));
    let tcp = actix_tls::connect::Connector::new(resolver).service();
    awc::Client::builder()
        .disable_redirects()
        .no_default_headers()
        .connector(
            awc::Connector::new()
                .connector(tcp)
                .limit(0)
                .timeout(Duration::from_secs(10)),
        )
        .finish()
}

/// Why `guard` refuses `url`'s host when it is an IP literal (host names are
/// checked by the resolver when they are looked up). A full URL parse:
/// callers sending many attempts to one URL keep the answer
/// ([`LiteralCheck`]) instead of parsing the same URL for every attempt.
pub fn literal_refusal(guard: &Guard, url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let ip: std::net::IpAddr = match parsed.host()? {
        url::Host::Ipv4(v4) => v4.into(),
        url::Host::Ipv6(v6) => v6.into(),
        url::Host::Domain(_) => return None,
    };
    guard.check(ip).err()
}

/// The last URL an endpoint checked with [`literal_refusal`] and the answer:
/// an endpoint's attempts go to one URL, whose check needs no new parse
/// until the URL changes (the guard's policy is fixed for the process).
#[derive(Debug, Default)]
pub struct LiteralCheck {
    last: Option<(String, Option<String>)>,
}

impl LiteralCheck {
    /// Why `guard` refuses `url` (see [`literal_refusal`]), parsing `url`
    /// only when it is not the URL asked about last time.
    pub fn refusal(&mut self, guard: &Guard, url: &str) -> Option<String> {
        match &self.last {
            Some((seen, answer)) if seen == url => answer.clone(),
            _ => {
                let answer = literal_refusal(guard, url);
                self.last = Some((url.to_owned(), answer.clone()));
                answer
            }
        }
    }
}

/// Send one attempt and read at most 4 KiB of the answer, all within
/// `timeout`; `refused` is the guard's answer for `url`'s IP literal
/// ([`literal_refusal`]), which sends nothing.
pub async fn send(
    client: &awc::Client,
    refused: Option<String>,
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
    timeout: Duration,
) -> AttemptResult {
    let started = Instant::now();
    if let Some(reason) = refused {
        return AttemptResult {
            outcome: Outcome::Refused(reason),
            latency: started.elapsed(),
            body: String::new(),
        };
    }
    let mut req = match method {
        Method::Post => client.post(url),
        Method::Put => client.put(url),
    }
    .timeout(timeout);
    for (k, v) in headers {
        req = req.insert_header((k.as_str(), v.as_str()));
    }
    let outcome = match req.send_body(body).await {
        Err(awc::error::SendRequestError::Timeout) => Outcome::Timeout,
        Err(awc::error::SendRequestError::Url(e)) => Outcome::Refused(format!("invalid URL: {e}")),
        // The resolver refused every address: permanent, not a network blip.
        Err(e) if e.to_string().contains(ssrf::REFUSED) => Outcome::Refused(e.to_string()),
        Err(e) => Outcome::Network(e.to_string()),
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let remaining = timeout.saturating_sub(started.elapsed());
            let mut buf = Vec::new();
            // Read only what we keep; the rest is dropped with the connection.
            let read = async {
                while let Some(chunk) = resp.next().await {
                    match chunk {
                        Ok(c) => {
                            let room = MAX_RESPONSE_BODY - buf.len();
                            buf.extend_from_slice(&c[..c.len().min(room)]);
                            if buf.len() >= MAX_RESPONSE_BODY {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
            };
            let _ = actix_rt::time::timeout(remaining, read).await;
            let latency = started.elapsed();
            return AttemptResult {
                outcome: Outcome::Response {
                    status,
                    retry_after,
                },
                latency,
                body: String::from_utf8_lossy(&buf).into_owned(),
            };
        }
    };
    AttemptResult {
        outcome,
        latency: started.elapsed(),
        body: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn input(body: &[u8]) -> AttemptInput<'_> {
        AttemptInput {
            event_id: "evt_1",
            event_type: "order.created",
            attempt: 2,
            timestamp: 1_700_000_000,
            body,
            content_type: "application/json",
        }
    }

    fn get<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn standard_scheme_sets_the_documented_headers() {
        let mut spec = EndpointSpec::new("a", "http://h/", &[]);
        spec.signing.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()];
        spec.headers = BTreeMap::from([("x-tenant".to_string(), "t1".to_string())]);
        spec.auth = Auth::Bearer {
            token: "tok".into(),
        };
        let h = headers(&spec, &signing_keys(&spec), &input(b"{}"));
        assert_eq!(get(&h, "webhook-id"), Some("evt_1"));
        assert_eq!(get(&h, "webhook-timestamp"), Some("1700000000"));
        assert_eq!(get(&h, "x-webhook-event"), Some("order.created"));
        assert_eq!(get(&h, "x-webhook-attempt"), Some("2"));
        assert!(get(&h, "webhook-signature").unwrap().starts_with("v1,"));
        assert_eq!(get(&h, "x-tenant"), Some("t1"));
        assert_eq!(get(&h, "authorization"), Some("Bearer tok"));
        assert!(get(&h, "user-agent").unwrap().starts_with("hookbus/"));
    }

    #[test]
    fn sha256_scheme_and_basic_auth() {
        let mut spec = EndpointSpec::new("a", "http://h/", &[]);
        spec.signing = super::super::spec::Signing {
            scheme: Scheme::Sha256,
            secrets: vec!["s3cret".into()],
        };
        spec.auth = Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let h = headers(&spec, &signing_keys(&spec), &input(b"{}"));
        assert_eq!(get(&h, "x-webhook-timestamp"), Some("1700000000"));
        assert!(
            get(&h, "x-webhook-signature")
                .unwrap()
                .starts_with("sha256=")
        );
        assert!(get(&h, "webhook-signature").is_none());
        assert_eq!(get(&h, "authorization"), Some("Basic dTpw"));
    }

    #[test]
    fn unsigned_endpoints_carry_no_signature() {
        let mut spec = EndpointSpec::new("a", "http://h/", &[]);
        spec.signing.scheme = Scheme::None;
        let h = headers(&spec, &signing_keys(&spec), &input(b"{}"));
        assert!(get(&h, "webhook-signature").is_none() && get(&h, "x-webhook-signature").is_none());
    }
}

#[cfg(test)]
mod literal_tests {
    use super::*;
    use crate::endpoint::ssrf;

    /// Nothing here connects anywhere: the check reads the URL only.
    #[test]
    fn a_remembered_literal_check_answers_as_a_fresh_parse_and_follows_a_url_change() {
        let allow = ssrf::parse_networks(&["127.0.0.0/8".to_string()]).unwrap();
        let guard = Guard::new(allow, ssrf::system_lookup());
        let mut check = LiteralCheck::default();
        let allowed = "http://127.0.0.1:9/hook";
        let forbidden = "http://10.0.0.1/hook";
        for url in [
            allowed,
            allowed,
            forbidden,
            forbidden,
            allowed,
            "http://[::ffff:169.254.169.254]/",
            "http://example.test/",
        ] {
            assert_eq!(
                check.refusal(&guard, url),
                literal_refusal(&guard, url),
                "{url}"
            );
        }
        assert!(check.refusal(&guard, allowed).is_none());
        assert!(check.refusal(&guard, forbidden).is_some());
        // Host names are the resolver's to check.
        assert!(check.refusal(&guard, "http://example.test/").is_none());
    }
}
