//! Response classification: success, retry later, or fail for good.

use std::time::{Duration, SystemTime};

/// What an attempt produced, before classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this status (and maybe a `Retry-After`).
    Response {
        /// HTTP status code.
        status: u16,
        /// Raw `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// No response within the endpoint's timeout.
    Timeout,
    /// Connection refused, reset, TLS or protocol error: the request may not have arrived.
    Network(String),
    /// The attempt could not be made at all (e.g. invalid header); retrying cannot help.
    Refused(String),
}

impl Outcome {
    /// The HTTP status, or the error text when the receiver did not answer.
    pub fn status_and_error(&self) -> (Option<u16>, Option<String>) {
        match self {
            Outcome::Response { status, .. } => (Some(*status), None),
            Outcome::Timeout => (None, Some("timeout".to_string())),
            Outcome::Network(e) | Outcome::Refused(e) => (None, Some(e.clone())),
        }
    }
}

/// The decision for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Success,
    /// Try again; `retry_after` is the receiver's own hint.
    Retry {
        /// Parsed `Retry-After`, if the receiver sent one.
        retry_after: Option<Duration>,
        /// Human-readable reason kept with the attempt.
        reason: String,
    },
    /// Dead-letter now.
    Permanent {
        /// Human-readable reason kept with the dead letter.
        reason: String,
    },
}

/// Bounded label for `hookbus_delivery_attempts_total{result}`.
pub fn result_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Response { status, .. } => match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        },
        Outcome::Timeout => "timeout",
        Outcome::Network(_) => "connect_error",
        // Refused by the SSRF guard: a policy decision, not a network failure.
        Outcome::Refused(_) => "refused",
    }
}

/// Classify an attempt's outcome.
///
/// Success is a status in `success_codes`; 408, 425, 429 and 5xx, timeouts
/// and network errors are retried; every other status (3xx included:
/// redirects are never followed) fails permanently. `now` converts an
/// HTTP-date `Retry-After` into a delay.
pub fn classify(outcome: &Outcome, success_codes: &[u16], now: SystemTime) -> Decision {
    match outcome {
        Outcome::Response {
            status,
            retry_after,
        } => {
            let status = *status;
            if success_codes.contains(&status) {
                Decision::Success
            } else if matches!(status, 408 | 425 | 429) || (500..=599).contains(&status) {
                Decision::Retry {
                    retry_after: retry_after
                        .as_deref()
                        .and_then(|h| parse_retry_after(h, now)),
                    reason: format!("HTTP {status}"),
                }
            } else if (300..=399).contains(&status) {
                Decision::Permanent {
                    reason: format!("HTTP {status} (redirects are not followed)"),
                }
            } else {
                Decision::Permanent {
                    reason: format!("HTTP {status}"),
                }
            }
        }
        Outcome::Timeout => Decision::Retry {
            retry_after: None,
            reason: "timeout".into(),
        },
        Outcome::Network(e) => Decision::Retry {
            retry_after: None,
            reason: e.clone(),
        },
        Outcome::Refused(e) => Decision::Permanent { reason: e.clone() },
    }
}

/// Whether an outcome counts against the receiver's health (breaker,
/// auto-disable): retryable failures do, a permanent 4xx about one payload
/// does not.
pub fn is_receiver_failure(decision: &Decision) -> bool {
    matches!(decision, Decision::Retry { .. })
}

/// Parse `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Response {
            status: code,
            retry_after: None,
        }
    }

    fn ok_codes() -> Vec<u16> {
        (200..=299).collect()
    }

    #[test]
    fn success_codes_succeed() {
        let now = SystemTime::now();
        assert_eq!(classify(&status(200), &ok_codes(), now), Decision::Success);
        assert_eq!(classify(&status(204), &ok_codes(), now), Decision::Success);
        assert_eq!(classify(&status(302), &[302], now), Decision::Success);
    }

    #[test]
    fn transient_statuses_and_network_errors_retry() {
        let now = SystemTime::now();
        for code in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(matches!(
                classify(&status(code), &ok_codes(), now),
                Decision::Retry { .. }
            ));
        }
        assert!(matches!(
            classify(&Outcome::Timeout, &ok_codes(), now),
            Decision::Retry { .. }
        ));
        let net = Outcome::Network("connection refused".into());
        assert!(matches!(
            classify(&net, &ok_codes(), now),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn other_4xx_and_3xx_are_permanent() {
        let now = SystemTime::now();
        for code in [301, 302, 307, 400, 401, 403, 404, 410, 422] {
            let d = classify(&status(code), &ok_codes(), now);
            assert!(matches!(d, Decision::Permanent { .. }), "{code}: {d:?}");
            assert!(!is_receiver_failure(&d));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        let o = Outcome::Response {
            status: 429,
            retry_after: Some("3".into()),
        };
        assert_eq!(
            classify(&o, &ok_codes(), now),
            Decision::Retry {
                retry_after: Some(Duration::from_secs(3)),
                reason: "HTTP 429".into()
            }
        );
    }

    #[test]
    fn result_labels_are_bounded() {
        assert_eq!(result_label(&status(201)), "2xx");
        assert_eq!(result_label(&status(404)), "4xx");
        assert_eq!(result_label(&Outcome::Timeout), "timeout");
        assert_eq!(result_label(&Outcome::Network("x".into())), "connect_error");
        assert_eq!(result_label(&Outcome::Refused("x".into())), "refused");
        for l in ["2xx", "timeout", "connect_error", "refused"] {
            assert!(crate::telemetry::names::RESULTS.contains(&l));
        }
    }
}
