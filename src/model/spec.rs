//! The endpoint schema shared by the config file (`[[endpoints]]`) and the API,
//! its defaults and validation (the field checks it uses are `spec_checks.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Dur;
use super::filter::{Filter, FilterSpec};
use super::pattern::Pattern;
use super::policy::{BreakerConfig, RateLimit, RetryPolicy};
use super::transform::TransformSpec;
use crate::sign::{self, Scheme};

/// HTTP method used for deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `POST` (default).
    #[default]
    Post,
    /// `PUT`.
    Put,
}

/// Whether an endpoint receives deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Receives deliveries.
    #[default]
    Active,
    /// Queues deliveries and sends nothing until resumed.
    Paused,
    /// Gets no new deliveries until resumed.
    Disabled,
}

impl Status {
    /// The name used in the API and config (`active`, `paused`, `disabled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Disabled => "disabled",
        }
    }
}

/// Delivery order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Up to `max_in_flight` at once; retries do not hold others back (default).
    #[default]
    None,
    /// Strict publish order: one in flight; a failing delivery blocks the rest
    /// until it succeeds or is dead-lettered.
    Fifo,
}

/// Credentials added to every request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Token.
        token: String,
    },
    /// `<header>: <key>`.
    ApiKey {
        /// Header name; default `x-api-key`.
        #[serde(default = "default_api_key_header")]
        header: String,
        /// Key value.
        key: String,
    },
}

fn default_api_key_header() -> String {
    "x-api-key".into()
}

/// Signing settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Signing {
    /// Signature scheme. Default `standard`.
    pub scheme: Scheme,
    /// Signing secrets; one `whsec_…` is generated when empty. Several sign at once.
    pub secrets: Vec<String>,
}

/// Built-in payload format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The event as `{"id","type","timestamp","data","metadata"}`.
    #[default]
    Json,
    /// A Slack message (`scripts/slack.rhai`).
    Slack,
    /// A Discord embed (`scripts/discord.rhai`).
    Discord,
    /// A Teams MessageCard (`scripts/teams.rhai`).
    Teams,
}

/// An endpoint as declared by a user (config file or API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Unique name; the config file upserts by it and metrics label by it.
    pub name: String,
    /// Destination, `http://` or `https://`.
    pub url: String,
    /// HTTP method. Default `POST`.
    #[serde(default)]
    pub method: Method,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
    /// Subscription patterns; empty means every (non-operational) event type.
    #[serde(default)]
    pub events: Vec<String>,
    /// `active`, `paused` or `disabled`. Default `active`.
    #[serde(default)]
    pub status: Status,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Free-form labels for operators.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Credentials. Default none.
    #[serde(default)]
    pub auth: Auth,
    /// Signing. Default Standard Webhooks with a generated secret.
    #[serde(default)]
    pub signing: Signing,
    /// Payload format. Default `json`.
    #[serde(default)]
    pub format: Format,
    /// A declarative payload filter, evaluated before the transform: an event
    /// it rejects makes no delivery at all (see `model::filter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterSpec>,
    /// A Rhai script reshaping each event (instead of `format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformSpec>,
    /// Per-attempt timeout (until the response headers and 4 KiB of body). Default `"15s"`.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Attempts in flight at once. Default 16 (1 with `ordering = "fifo"`).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// `none` (default) or `fifo`.
    #[serde(default)]
    pub ordering: Ordering,
    /// Fields replaced with `"[REDACTED]"` before the transform and delivery:
    /// dotted paths from the event root (`data.customer.email`, `*` for any
    /// element) or bare key names masked anywhere (`password`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
    /// Optional attempts-per-second limit (token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Circuit breaker.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// A delivery still undelivered this long after its event was accepted is
    /// dead-lettered as "expired" instead of attempted. Default `"3d"`.
    #[serde(default = "default_expire_after")]
    pub expire_after: Dur,
    /// An endpoint failing without a single success for this long is disabled
    /// (and `hookbus.endpoint.disabled` published). Default `"5d"`.
    #[serde(default = "default_disable_after")]
    pub disable_after: Dur,
    /// Statuses that count as delivered. Default 200–299.
    #[serde(default = "default_success_codes")]
    pub success_codes: Vec<u16>,
    /// Send the publisher's W3C `traceparent` on with each attempt. Default true.
    #[serde(default = "default_true")]
    pub propagate_trace: bool,
}

fn default_timeout() -> Dur {
    Dur::secs(15)
}
fn default_max_in_flight() -> u32 {
    16
}
fn default_expire_after() -> Dur {
    Dur::secs(3 * 86400)
}
fn default_disable_after() -> Dur {
    Dur::secs(5 * 86400)
}
fn default_true() -> bool {
    true
}

fn default_success_codes() -> Vec<u16> {
    (200..=299).collect()
}

impl EndpointSpec {
    /// A spec with defaults for everything but name, URL and patterns.
    pub fn new(name: impl Into<String>, url: impl Into<String>, events: &[&str]) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            method: Method::Post,
            description: String::new(),
            events: events.iter().map(|s| s.to_string()).collect(),
            status: Status::Active,
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
            auth: Auth::None,
            signing: Signing::default(),
            format: Format::Json,
            filter: None,
            transform: None,
            timeout: default_timeout(),
            max_in_flight: default_max_in_flight(),
            ordering: Ordering::None,
            rate_limit: None,
            redact: Vec::new(),
            retry: RetryPolicy::default(),
            circuit_breaker: BreakerConfig::default(),
            expire_after: default_expire_after(),
            disable_after: default_disable_after(),
            propagate_trace: true,
            success_codes: default_success_codes(),
        }
    }

    /// Parsed patterns; call after [`EndpointSpec::problems`] returned nothing.
    pub fn patterns(&self) -> Vec<Pattern> {
        self.events
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .collect()
    }

    /// Fill in generated values (a signing secret when none was given) and
    /// store the URL in the normalised form it will be sent as.
    pub fn complete(&mut self) {
        if let Ok(u) = check_url(&self.url) {
            self.url = u.to_string();
        }
        if self.signing.scheme != Scheme::None && self.signing.secrets.is_empty() {
            self.signing.secrets.push(match self.signing.scheme {
                Scheme::Sha256 => sign::generate_secret().replace(sign::SECRET_PREFIX, ""),
                _ => sign::generate_secret(),
            });
        }
    }

    /// Every problem with this spec, as `(field path, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |f: &str, m: String| out.push((f.to_string(), m));
        if self.name.is_empty() || self.name.len() > 64 {
            push("name", "must be 1..=64 characters".into());
        } else if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            push(
                "name",
                "may only contain letters, digits, `_`, `-` and `.`".into(),
            );
        } else if self.name.starts_with("ep_") {
            push(
                "name",
                "must not start with `ep_` (reserved for ids)".into(),
            );
        }
        if let Err(e) = check_url(&self.url) {
            push("url", e);
        }
        for (i, p) in self.events.iter().enumerate() {
            if let Err(e) = Pattern::parse(p) {
                push(&format!("events[{i}]"), format!("`{p}`: {e}"));
            }
        }
        for (k, v) in &self.headers {
            if let Err(e) = check_header(k, v) {
                push(&format!("headers.{k}"), e);
            }
        }
        match &self.auth {
            Auth::ApiKey { header, key } => {
                if let Err(e) = check_header(header, key) {
                    push("auth.header", e);
                }
            }
            Auth::Bearer { token } if token.is_empty() => {
                push("auth.token", "must not be empty".into())
            }
            // Checked as it will be sent: ASCII spaces and controls would break
            // the header (or smuggle another), failing every attempt later.
            Auth::Bearer { token } if token.bytes().any(|b| b <= b' ' || b == 0x7f) => push(
                "auth.token",
                "must not contain spaces, line breaks or control characters".into(),
            ),
            Auth::Basic { username, password } => {
                if username.contains(':') || username.chars().any(char::is_control) {
                    push(
                        "auth.username",
                        "must not contain `:` or control characters".into(),
                    )
                }
                if password.chars().any(char::is_control) {
                    push(
                        "auth.password",
                        "must not contain control characters".into(),
                    )
                }
            }
            _ => {}
        }
        for (i, s) in self.signing.secrets.iter().enumerate() {
            if let Err(e) = sign::key_bytes(self.signing.scheme, s) {
                push(&format!("signing.secrets[{i}]"), e.to_string());
            }
        }
        if let Some(f) = &self.filter {
            for (l, m) in Filter::parse(f).err().unwrap_or_default() {
                push(&l, m);
            }
        }
        if let Some(t) = &self.transform {
            for (f, m) in t.problems() {
                push(&f, m);
            }
            if self.format != Format::Json {
                push(
                    "format",
                    "use either a built-in `format` or a `transform`, not both".into(),
                );
            }
        }
        let t = self.timeout.get();
        if t.is_zero() || t > std::time::Duration::from_secs(300) {
            push("timeout", "must be between 1ms and 5m".into());
        }
        if self.expire_after.get().is_zero() {
            push("expire_after", "must be greater than zero".into());
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1024 {
            push("max_in_flight", "must be between 1 and 1024".into());
        }
        for (f, m) in redact_problems(&self.redact) {
            push(&f, m);
        }
        if let Some(r) = &self.rate_limit {
            for (f, m) in r.problems() {
                push(&f, m);
            }
        }
        for (f, m) in self.retry.problems() {
            push(&format!("retry.{f}"), m);
        }
        for (f, m) in self.circuit_breaker.problems() {
            push(&format!("circuit_breaker.{f}"), m);
        }
        if self.success_codes.is_empty()
            || self.success_codes.iter().any(|c| !(100..=599).contains(c))
        {
            push(
                "success_codes",
                "must be a non-empty list of HTTP statuses (100–599)".into(),
            );
        }
        out
    }
}

pub use super::spec_checks::{
    MAX_URL_LEN, RESERVED_HEADERS, URL_PATTERN, check_header, check_url, redact_problems,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_credentials_that_would_fail_every_attempt_are_refused() {
        for bad in [
            "http://127.0.0.1:9/x ",
            "http://127.0.0.1:9/x\n",
            "http://127.0.0.1:9/\tx",
            "http://127.0.0.1:9/\r\nx",
            "http:///x",
            "http://",
            "127.0.0.1:9/x",
            "http://a\\b/",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
        let mut s = EndpointSpec::new("a", "http://Example.COM:80/hooks", &[]);
        assert!(s.problems().is_empty());
        s.complete();
        assert_eq!(s.url, "http://example.com/hooks", "stored normalised");
        s.auth = Auth::Bearer {
            token: "abc\r\nx-evil: 1".into(),
        };
        assert!(s.problems().iter().any(|(f, _)| f == "auth.token"));
        s.auth = Auth::Basic {
            username: "a:b".into(),
            password: "p".into(),
        };
        assert!(s.problems().iter().any(|(f, _)| f == "auth.username"));
    }

    #[test]
    fn defaults_match_the_design() {
        let s: EndpointSpec =
            toml::from_str("name = \"a\"\nurl = \"http://127.0.0.1:1/\"").unwrap();
        assert_eq!(s.timeout, Dur::secs(15));
        assert_eq!(s.max_in_flight, 16);
        assert_eq!(s.retry.max_attempts, 8);
        assert_eq!(s.circuit_breaker.failure_threshold, 5);
        assert_eq!(s.success_codes.len(), 100);
        assert!(s.problems().is_empty());
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let mut s = EndpointSpec::new("bad name", "ftp://x", &["a..b", "ok.*"]);
        s.headers.insert("Webhook-Id".into(), "x".into());
        s.headers.insert("x-ok".into(), "bad\nvalue".into());
        s.max_in_flight = 0;
        s.signing.secrets = vec!["nope".into()];
        let fields: Vec<String> = s.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            [
                "name",
                "url",
                "events[0]",
                "headers.Webhook-Id",
                "headers.x-ok",
                "signing.secrets[0]",
                "max_in_flight"
            ]
        );
    }

    #[test]
    fn rejects_unknown_fields_and_bad_auth_types() {
        let e =
            toml::from_str::<EndpointSpec>("name=\"a\"\nurl=\"http://h/\"\nretries=3").unwrap_err();
        assert!(e.to_string().contains("retries"), "{e}");
        let e = toml::from_str::<EndpointSpec>(
            "name=\"a\"\nurl=\"http://h/\"\nauth={type=\"bearer\", token=\"t\", extra=1}",
        )
        .unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
    }

    #[test]
    fn urls_must_be_http_with_host_and_no_credentials() {
        assert!(check_url("https://example.com/hook").is_ok());
        for bad in [
            "not a url",
            "file:///etc/passwd",
            "http://user:pw@h/",
            "http://:80/",
            "http://h/#f",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn complete_generates_a_secret_for_signed_endpoints_only() {
        let mut s = EndpointSpec::new("a", "http://h/", &[]);
        s.complete();
        assert_eq!(s.signing.secrets.len(), 1);
        assert!(s.problems().is_empty());
        let mut n = EndpointSpec::new("b", "http://h/", &[]);
        n.signing.scheme = Scheme::None;
        n.complete();
        assert!(n.signing.secrets.is_empty());
    }
}
