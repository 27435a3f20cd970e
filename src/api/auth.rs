//! Bearer-token check for `/v1`: the admin token (compared in constant
//! time) may do everything; an application token (looked up by its SHA-256)
//! only reaches `/v1/apps/{its app}/…` — another application's path is 404,
//! as if it did not exist, and an admin route is 403. The principal is left
//! in the request's extensions for the handlers.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;

use super::ApiError;
use crate::directory::{Directory, Principal};
use crate::sign::constant_time_eq;

/// Middleware: when a token is configured, every request must carry
/// `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerAuth {
    token: Option<Rc<str>>,
    directory: std::sync::Arc<Directory>,
}

impl BearerAuth {
    /// Require `token` (or nothing when `None`), or an application token from `directory`.
    pub fn new(token: Option<String>, directory: std::sync::Arc<Directory>) -> Self {
        Self {
            token: token.map(Rc::from),
            directory,
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for BearerAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = BearerAuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BearerAuthService {
            service: Rc::new(service),
            token: self.token.clone(),
            directory: self.directory.clone(),
        }))
    }
}

/// The service produced by [`BearerAuth`].
pub struct BearerAuthService<S> {
    service: Rc<S>,
    token: Option<Rc<str>>,
    directory: std::sync::Arc<Directory>,
}

impl<S, B> Service<ServiceRequest> for BearerAuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_credentials);
        let principal = match (
            given.and_then(|g| self.directory.authenticate(g)),
            &self.token,
        ) {
            (Some(app), _) => Some(app),
            (None, None) => Some(Principal::Admin),
            (None, Some(t)) => given
                .is_some_and(|g| constant_time_eq(g.as_bytes(), t.as_bytes()))
                .then_some(Principal::Admin),
        };
        let refused = match &principal {
            None => Some(ApiError::Unauthorized),
            Some(Principal::Admin) => None,
            Some(Principal::App { app, .. }) => app_may_reach(
                &self.directory,
                app,
                req.method(),
                req.match_info().unprocessed(),
            )
            .err(),
        };
        if let Some(e) = refused {
            let resp = actix_web::ResponseError::error_response(&e);
            return Box::pin(async move { Ok(req.into_response(resp).map_into_right_body()) });
        }
        if let Some(p) = principal {
            req.extensions_mut().insert(p);
        }
        let svc = self.service.clone();
        Box::pin(async move { svc.call(req).await.map(ServiceResponse::map_into_left_body) })
    }
}

/// Whether an application token for `app` may make this request (`rest` is
/// the path after `/v1`): its own application's resources, and reading the
/// event-type catalogue. Another application is 404 (its existence is not
/// revealed), anything else 403.
fn app_may_reach(
    dir: &Directory,
    app: &str,
    method: &actix_web::http::Method,
    rest: &str,
) -> Result<(), ApiError> {
    let forbidden = || {
        ApiError::Forbidden(
            "an application token reaches only /v1/apps/{its app}/ (events, endpoints, deliveries, dead-letters, transforms) and reads /v1/event-types".into(),
        )
    };
    let get = method == actix_web::http::Method::GET;
    if rest == "/event-types" || rest.starts_with("/event-types/") {
        return if get { Ok(()) } else { Err(forbidden()) };
    }
    let Some(after) = rest.strip_prefix("/apps/") else {
        return Err(forbidden());
    };
    let (seg, resource) = after.split_once('/').map_or((after, ""), |(s, r)| (s, r));
    if seg.is_empty() {
        return Err(forbidden());
    }
    if dir.resolve(seg).is_none_or(|a| a.id != app) {
        return Err(ApiError::NotFound(format!("application `{seg}` not found")));
    }
    // Its application's own routes, and its own record (read only).
    if super::scope::is_scoped(&format!("/v1/{resource}")) || (resource.is_empty() && get) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1), the token is not.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_is_not() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer   abc "] {
            assert_eq!(bearer_credentials(v), Some("abc"), "{v}");
        }
        assert_eq!(bearer_credentials("Basic abc"), None);
        assert_eq!(bearer_credentials("Bearer"), None);
        assert_eq!(bearer_credentials("Bearer ABC"), Some("ABC"));
    }
}
