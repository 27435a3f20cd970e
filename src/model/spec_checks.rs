//! The plain checks an endpoint spec's fields go through (URL, custom
//! headers, redaction rules), below `spec`, which re-exports them and uses
//! them in `EndpointSpec::problems`.

/// Header names hookbus sets itself; endpoint `headers` may not override them.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "x-webhook-event",
    "x-webhook-attempt",
    "x-webhook-signature",
    "x-webhook-timestamp",
];

/// The delivery URLs hookbus accepts, as a regular expression (also the
/// OpenAPI pattern of `url`): http(s); a DNS name whose last label starts
/// with a letter, a dotted-quad IPv4 or a bracketed IPv6 address; an optional
/// port 1–65535; then a path and query of URL characters — no spaces,
/// backslashes, credentials or fragment.
pub const URL_PATTERN: &str = concat!(
    r"^https?://(",
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|\[(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|::([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:)\]",
    r")(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
);

/// Longest accepted delivery URL.
pub const MAX_URL_LEN: usize = 2048;

static URL_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(URL_PATTERN).expect("URL_PATTERN compiles"));

/// Check a delivery URL: absolute http(s) with a host and no embedded
/// credentials, written as it will be sent (the URL parser forgives spaces,
/// tabs, line breaks and `http:///x`; a receiver would not).
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL must not contain spaces, tabs, line breaks or control characters".into());
    }
    if raw.len() > MAX_URL_LEN {
        return Err(format!("URL must be at most {MAX_URL_LEN} characters"));
    }
    if raw.contains('\\') {
        return Err("URL must not contain `\\`".into());
    }
    if let Some((_, rest)) = raw.split_once("://") {
        if rest.is_empty() || rest.starts_with('/') {
            return Err("URL must have a host right after `://`".into());
        }
    } else {
        return Err(format!(
            "`{raw}` is not an absolute URL like https://example.com/hooks"
        ));
    }
    if !URL_RE.is_match(raw) {
        return Err(format!(
            "`{raw}` is not a delivery URL like https://hooks.example.com/path (a host name, \
             IPv4 or [IPv6] address, an optional port, no credentials or fragment)"
        ));
    }
    let u = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not allowed; use http or https",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("URL must have a host".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL are not allowed; use `auth`".into());
    }
    if u.fragment().is_some() {
        return Err("URL must not have a fragment".into());
    }
    Ok(u)
}

/// Check one custom header: a valid name that is neither hop-by-hop nor ours, and a valid value.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
        return Err(format!(
            "`{name}` is set by hookbus and cannot be overridden"
        ));
    }
    if actix_web::http::header::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "value of `{name}` contains characters not allowed in a header"
        ));
    }
    Ok(())
}

/// Problems with the rules, as `(field, reason)`.
pub fn redact_problems(rules: &[String]) -> Vec<(String, String)> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_empty() || r.split('.').any(str::is_empty) || r.chars().count() > 256)
        .map(|(i, r)| {
            (
                format!("redact[{i}]"),
                format!("`{r}` is not a key name or dotted path"),
            )
        })
        .collect()
}
