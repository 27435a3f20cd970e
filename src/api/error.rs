//! `ApiError`: every API failure as RFC 9457 `application/problem+json`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::bus::BusError;

/// One invalid field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// Field path, e.g. `events[0].type`.
    pub loc: String,
    /// What is wrong.
    pub msg: String,
}

/// An API error, rendered as problem+json.
///
/// A host's own handlers can answer with it too, keeping hookbus's meaning
/// of each failure (an invalid event is a 422 listing every problem, a full
/// disk a 503 with `Retry-After`):
///
/// ```no_run
/// use actix_web::{HttpResponse, web};
/// use hookbus::{ApiError, Hookbus, PublishRequest};
///
/// async fn order(hub: web::Data<Hookbus>) -> Result<HttpResponse, ApiError> {
///     let receipt = hub
///         .publish(PublishRequest::new("order.created", serde_json::json!({"id": 1})))
///         .await
///         .map_err(ApiError::from)?;
///     Ok(HttpResponse::Created().json(receipt))
/// }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON (400).
    #[error("{0}")]
    Malformed(String),
    /// Well-formed but invalid (422), with every field problem.
    #[error("{detail}")]
    Invalid {
        /// Summary.
        detail: String,
        /// Each problem.
        errors: Vec<FieldError>,
    },
    /// Larger than allowed (413).
    #[error("request body exceeds {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Missing or wrong token (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Refused on principle, e.g. a cross-site browser request (403).
    #[error("{0}")]
    Forbidden(String),
    /// A body that is not `application/json` (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The path exists, the method does not (405, with `Allow`).
    #[error("method not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The methods the path has, comma-separated.
        allow: String,
    },
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with existing state (409).
    #[error("{0}")]
    Conflict(String),
    /// A rate limit refused the request; retry after this many seconds (429).
    #[error("rate limit exceeded; retry in {retry_after} s")]
    TooManyRequests {
        /// Whole seconds until a retry may succeed (at least 1).
        retry_after: u64,
    },
    /// The healthy backlog is over its bound; nothing was acknowledged (503, `Retry-After: 1`).
    #[error("{0}")]
    Backlogged(String),
    /// The store refused the write (disk full, I/O error); nothing was acknowledged (503).
    #[error(
        "the event store refused the write (for example, the disk is full); nothing was acknowledged, retry later"
    )]
    StoreUnavailable,
    /// The engine is not running (shutting down); nothing was acknowledged (503).
    #[error("the engine is shutting down; nothing was acknowledged, retry later")]
    Unavailable,
    /// A bug or unexpected failure (500); details only in the log.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed_request",
            ApiError::Invalid { .. } => "validation_failed",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Backlogged(_) => "backlog_full",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// A 422 from `(field, reason)` pairs.
    pub fn invalid(problems: Vec<(String, String)>) -> Self {
        let detail = problems
            .iter()
            .map(|(l, m)| format!("{l}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::Invalid {
            detail,
            errors: problems
                .into_iter()
                .map(|(loc, msg)| FieldError { loc, msg })
                .collect(),
        }
    }
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:hookbus:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// A human sentence.
    pub detail: String,
    /// Stable snake_case code.
    pub code: String,
    /// Every invalid field (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::StoreUnavailable | ApiError::Backlogged(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        let body = Problem {
            kind: format!("urn:hookbus:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: code.to_string(),
            errors: match self {
                ApiError::Invalid { errors, .. } => Some(errors.clone()),
                _ => None,
            },
        };
        let mut resp = HttpResponse::build(status);
        resp.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized) {
            resp.insert_header(("www-authenticate", "Bearer"));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            resp.insert_header(("allow", allow.as_str()));
        }
        if matches!(self, ApiError::Backlogged(_)) {
            // Deliveries drain in seconds once publishing pauses: ask for a short wait.
            resp.insert_header(("retry-after", "1"));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header(("retry-after", "5"));
        }
        if let ApiError::TooManyRequests { retry_after } = self {
            resp.insert_header(("retry-after", retry_after.to_string()));
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<BusError> for ApiError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Invalid(p) => ApiError::invalid(p),
            BusError::Conflict(m) => ApiError::Conflict(m),
            BusError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            BusError::Store(e) => {
                tracing::error!(error = %e, "Store error; request refused.");
                ApiError::StoreUnavailable
            }
            BusError::Unavailable => ApiError::Unavailable,
            BusError::Overloaded(why) => {
                crate::telemetry::PublishRefused { reason: "backlog" }.emit();
                ApiError::Backlogged(why)
            }
            BusError::RateLimited(d) => {
                crate::telemetry::PublishRefused {
                    reason: "rate_limit",
                }
                .emit();
                ApiError::TooManyRequests {
                    retry_after: d.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }
}

/// How JSON bodies read with `web::Json` fail: problem+json like every other error.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match err {
        J::Deserialize(e) if e.is_data() => ApiError::invalid(vec![("body".into(), e.to_string())]),
        J::Deserialize(e) => ApiError::Malformed(format!("malformed JSON: {e}")),
        J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
            ApiError::TooLarge { limit }
        }
        J::ContentType => {
            ApiError::UnsupportedMediaType("request bodies must be application/json".into())
        }
        other => ApiError::Malformed(other.to_string()),
    };
    api.into()
}

/// How query strings fail to parse: a 422 naming the parameter where the
/// parser's message lets us tell which (`unknown field`, a quoted bad value).
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let msg = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let loc = param_of(&msg, &pairs).map_or_else(|| "query".to_string(), |p| format!("query.{p}"));
    ApiError::invalid(vec![(loc, msg)]).into()
}

/// How path segments fail to parse: a 422 at `path`.
pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    let msg = match &err {
        actix_web::error::PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::invalid(vec![("path".into(), msg)]).into()
}

/// Which query parameter a serde message is about.
fn param_of(msg: &str, pairs: &[(String, String)]) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    // "unknown variant `bogus`, expected …": the parameter whose value it quotes.
    if let Some(quoted) = msg.split('`').nth(1) {
        if let Some((k, _)) = pairs.iter().find(|(_, v)| v == quoted) {
            return Some(k.clone());
        }
    }
    // "invalid digit found in string": the numeric parameter that is not a number.
    pairs
        .iter()
        .find(|(k, v)| NUMERIC_PARAMS.contains(&k.as_str()) && v.parse::<u64>().is_err())
        .map(|(k, _)| k.clone())
}

/// Query parameters that take numbers.
const NUMERIC_PARAMS: &[&str] = &["limit"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_errors_name_the_parameter_when_they_can() {
        let pairs = vec![("status".to_string(), "bogus".to_string())];
        assert_eq!(
            param_of("unknown variant `bogus`, expected one of `pending`", &pairs).as_deref(),
            Some("status")
        );
        assert_eq!(
            param_of("unknown field `foo`, expected …", &[]).as_deref(),
            Some("foo")
        );
        assert_eq!(param_of("something else", &[]), None);
        let limit = vec![("limit".to_string(), "-1".to_string())];
        assert_eq!(
            param_of("invalid digit found in string", &limit).as_deref(),
            Some("limit")
        );
    }
}
