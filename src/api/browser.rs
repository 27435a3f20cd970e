//! Browser-request guard for `/v1`: no cross-site writes, JSON bodies only,
//! CORS only for origins the operator lists in `server.cors_origins`.
//!
//! Why: a web page open in the operator's browser can send "simple" CORS
//! requests (form posts, `text/plain` bodies) to `localhost:8080` without a
//! preflight. Without this guard such a page could publish events hookbus
//! signs and delivers, or rotate secrets. Non-browser clients (curl, SDKs,
//! the CLI) send no `Origin` and are unaffected.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::Error;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use futures_util::future::LocalBoxFuture;

use super::ApiError;

/// What a request carries that the guard decides on.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// `Origin`, if any.
    pub origin: Option<&'a str>,
    /// `Sec-Fetch-Site`, if any.
    pub fetch_site: Option<&'a str>,
    /// This server's own origin as the client addressed it (`http://host:port`).
    pub own_origin: &'a str,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// Whether a body comes with the request (a length > 0, or chunked).
    pub has_body: bool,
    /// `Access-Control-Request-Method` (present on preflights).
    pub preflight_method: Option<&'a str>,
}

/// The guard's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through unchanged.
    Pass,
    /// Let it through and add CORS headers for this allowed origin.
    Cors(String),
    /// Answer this allowed origin's preflight.
    Preflight(String),
    /// 403: a cross-site request from an origin nobody allowed.
    CrossSite(String),
    /// 415: a body that is not JSON.
    NotJson(String),
}

/// Decide on one request. `allowed` holds the configured origins (exact,
/// lower-case `scheme://host[:port]`).
pub fn decide(r: Seen<'_>, allowed: &[String]) -> Verdict {
    let mut cors = None;
    if let Some(origin) = r.origin {
        let o = origin.trim().to_ascii_lowercase();
        if allowed.contains(&o) {
            if r.method == Method::OPTIONS && r.preflight_method.is_some() {
                return Verdict::Preflight(origin.to_string());
            }
            cors = Some(origin.to_string());
        } else if o != r.own_origin.to_ascii_lowercase() {
            return Verdict::CrossSite(format!(
                "cross-site request refused: origin `{origin}` is not allowed (list it in server.cors_origins)"
            ));
        }
    } else if matches!(r.fetch_site, Some(s) if s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site"))
    {
        return Verdict::CrossSite(
            "cross-site request refused (Sec-Fetch-Site); list the origin in server.cors_origins"
                .into(),
        );
    }
    if r.has_body && !is_json(r.content_type) {
        return Verdict::NotJson(format!(
            "request bodies must be application/json, not `{}`",
            r.content_type.unwrap_or("(none)")
        ));
    }
    cors.map_or(Verdict::Pass, Verdict::Cors)
}

/// `application/json` or `application/<x>+json` (merge-patch), any parameters.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Middleware applying [`decide`] to every `/v1` request.
#[derive(Clone)]
pub struct BrowserGuard {
    allowed: Rc<Vec<String>>,
}

impl BrowserGuard {
    /// Allow CORS for exactly these origins (case-insensitive).
    pub fn new(origins: &[String]) -> Self {
        Self {
            allowed: Rc::new(
                origins
                    .iter()
                    .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                    .collect(),
            ),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for BrowserGuard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = BrowserGuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BrowserGuardService {
            service: Rc::new(service),
            allowed: self.allowed.clone(),
        }))
    }
}

/// The service produced by [`BrowserGuard`].
pub struct BrowserGuardService<S> {
    service: Rc<S>,
    allowed: Rc<Vec<String>>,
}

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key";

impl<S, B> Service<ServiceRequest> for BrowserGuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let h = req.headers();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let info = req.connection_info().clone();
        let own = format!("{}://{}", info.scheme(), info.host());
        let has_body = header("transfer-encoding").is_some()
            || header("content-length").is_some_and(|l| l.trim() != "0");
        let verdict = decide(
            Seen {
                method: req.method(),
                origin: header("origin"),
                fetch_site: header("sec-fetch-site"),
                own_origin: &own,
                content_type: header("content-type"),
                has_body,
                preflight_method: header("access-control-request-method"),
            },
            &self.allowed,
        );
        use actix_web::ResponseError;
        let refuse = |req: ServiceRequest, e: ApiError| {
            let resp = e.error_response();
            Box::pin(async move { Ok(req.into_response(resp).map_into_right_body()) })
                as LocalBoxFuture<'static, _>
        };
        match verdict {
            Verdict::Pass => {
                let svc = self.service.clone();
                Box::pin(
                    async move { svc.call(req).await.map(ServiceResponse::map_into_left_body) },
                )
            }
            Verdict::Cors(origin) => {
                let svc = self.service.clone();
                Box::pin(async move {
                    let mut resp = svc.call(req).await?.map_into_left_body();
                    add_cors(resp.headers_mut(), &origin);
                    Ok(resp)
                })
            }
            Verdict::Preflight(origin) => {
                let mut resp = actix_web::HttpResponse::NoContent().finish();
                add_cors(resp.headers_mut(), &origin);
                let hs = resp.headers_mut();
                use actix_web::http::header::{HeaderName, HeaderValue};
                for (k, v) in [
                    ("access-control-allow-methods", ALLOW_METHODS),
                    ("access-control-allow-headers", ALLOW_HEADERS),
                    ("access-control-max-age", "600"),
                ] {
                    hs.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
                }
                Box::pin(async move { Ok(req.into_response(resp).map_into_right_body()) })
            }
            Verdict::CrossSite(msg) => refuse(req, ApiError::Forbidden(msg)),
            Verdict::NotJson(msg) => refuse(req, ApiError::UnsupportedMediaType(msg)),
        }
    }
}

fn add_cors(h: &mut actix_web::http::header::HeaderMap, origin: &str) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(HeaderName::from_static("access-control-allow-origin"), v);
        h.append(
            HeaderName::from_static("vary"),
            HeaderValue::from_static("Origin"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(method: &'a Method) -> Seen<'a> {
        Seen {
            method,
            origin: None,
            fetch_site: None,
            own_origin: "http://127.0.0.1:8080",
            content_type: Some("application/json"),
            has_body: true,
            preflight_method: None,
        }
    }

    #[test]
    fn clients_without_an_origin_pass_with_json_bodies() {
        assert_eq!(decide(seen(&Method::POST), &[]), Verdict::Pass);
        let bodyless = Seen {
            has_body: false,
            content_type: None,
            ..seen(&Method::POST)
        };
        assert_eq!(
            decide(bodyless, &[]),
            Verdict::Pass,
            "pause/resume carry no body"
        );
    }

    #[test]
    fn simple_request_content_types_are_refused() {
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let r = Seen {
                content_type: ct,
                ..seen(&Method::POST)
            };
            assert!(matches!(decide(r, &[]), Verdict::NotJson(_)), "{ct:?}");
        }
        for ct in [
            "application/json; charset=utf-8",
            "application/merge-patch+json",
            "Application/JSON",
        ] {
            let r = Seen {
                content_type: Some(ct),
                ..seen(&Method::PATCH)
            };
            assert_eq!(decide(r, &[]), Verdict::Pass, "{ct}");
        }
    }

    #[test]
    fn foreign_origins_and_cross_site_fetches_are_refused() {
        let evil = Seen {
            origin: Some("http://evil.example"),
            ..seen(&Method::POST)
        };
        assert!(matches!(decide(evil, &[]), Verdict::CrossSite(_)));
        let null = Seen {
            origin: Some("null"),
            ..seen(&Method::POST)
        };
        assert!(matches!(decide(null, &[]), Verdict::CrossSite(_)));
        let fetch = Seen {
            fetch_site: Some("cross-site"),
            ..seen(&Method::GET)
        };
        assert!(matches!(decide(fetch, &[]), Verdict::CrossSite(_)));
        let own = Seen {
            origin: Some("http://127.0.0.1:8080"),
            fetch_site: Some("same-origin"),
            ..seen(&Method::POST)
        };
        assert_eq!(
            decide(own, &[]),
            Verdict::Pass,
            "the dashboard is same-origin"
        );
    }

    #[test]
    fn listed_origins_get_cors_and_preflight_answers() {
        let allowed = vec!["https://admin.example".to_string()];
        let r = Seen {
            origin: Some("https://admin.example"),
            fetch_site: Some("cross-site"),
            ..seen(&Method::POST)
        };
        assert_eq!(
            decide(r, &allowed),
            Verdict::Cors("https://admin.example".into())
        );
        let pre = Seen {
            origin: Some("https://admin.example"),
            preflight_method: Some("POST"),
            has_body: false,
            content_type: None,
            ..seen(&Method::OPTIONS)
        };
        assert_eq!(
            decide(pre, &allowed),
            Verdict::Preflight("https://admin.example".into())
        );
        let text = Seen {
            origin: Some("https://admin.example"),
            content_type: Some("text/plain"),
            ..seen(&Method::POST)
        };
        assert!(
            matches!(decide(text, &allowed), Verdict::NotJson(_)),
            "CORS does not lift the JSON rule"
        );
        let other = Seen {
            origin: Some("https://admin.example.evil"),
            ..seen(&Method::POST)
        };
        assert!(matches!(decide(other, &allowed), Verdict::CrossSite(_)));
    }
}
