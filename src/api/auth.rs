//! Bearer-token check for `/v1`, compared in constant time.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::Error;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;

use super::ApiError;
use crate::sign::constant_time_eq;

/// Middleware: when a token is configured, every request must carry
/// `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerAuth {
    token: Option<Rc<str>>,
}

impl BearerAuth {
    /// Require `token`, or nothing when `None`.
    pub fn new(token: Option<String>) -> Self {
        Self {
            token: token.map(Rc::from),
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
        }))
    }
}

/// The service produced by [`BearerAuth`].
pub struct BearerAuthService<S> {
    service: Rc<S>,
    token: Option<Rc<str>>,
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
        let ok = match &self.token {
            None => true,
            Some(t) => req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_credentials)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), t.as_bytes())),
        };
        if !ok {
            let resp = actix_web::ResponseError::error_response(&ApiError::Unauthorized);
            return Box::pin(async move { Ok(req.into_response(resp).map_into_right_body()) });
        }
        let svc = self.service.clone();
        Box::pin(async move { svc.call(req).await.map(ServiceResponse::map_into_left_body) })
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
