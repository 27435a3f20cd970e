//! Which application a request works on: `/v1/apps/{app}/…` names it (by
//! id or uid), the flat `/v1/…` routes work on the default one. The
//! [`Scope`] extractor resolves it into an [`AppHandle`], so a handler can
//! only ever reach that application's records.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use serde::Deserialize;

use super::ApiError;
use crate::directory::Principal;
use crate::{AppHandle, Hookbus};

/// The application of the request, resolved (404 when `{app}` is unknown).
pub struct Scope(pub AppHandle);

impl std::ops::Deref for Scope {
    type Target = AppHandle;
    fn deref(&self) -> &AppHandle {
        &self.0
    }
}

impl FromRequest for Scope {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(resolve(req).map(Scope))
    }
}

fn resolve(req: &HttpRequest) -> Result<AppHandle, ApiError> {
    let hub = req
        .app_data::<web::Data<Hookbus>>()
        .ok_or(ApiError::Internal)?;
    let handle = match req.match_info().get("app") {
        None => hub.default_app(),
        Some(app) => hub
            .app(app)
            .map_err(|_| ApiError::NotFound(format!("application `{app}` not found")))?,
    };
    // The auth middleware already kept application tokens inside their own
    // application; checked again here so no route can forget it.
    if let Some(Principal::App { app, .. }) = req.extensions().get::<Principal>() {
        if *app != handle.id() {
            return Err(ApiError::NotFound(format!(
                "application `{}` not found",
                req.match_info().get("app").unwrap_or("default")
            )));
        }
    }
    Ok(handle)
}

/// The `{id}` of a path, whether or not an `{app}` comes before it.
#[derive(Deserialize)]
pub struct IdPath {
    /// The id (or name) segment.
    pub id: String,
}

impl std::ops::Deref for IdPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.id
    }
}

/// Whether the request is the admin's (the admin token, or no token configured).
pub fn is_admin(req: &HttpRequest) -> bool {
    !matches!(
        req.extensions().get::<Principal>(),
        Some(Principal::App { .. })
    )
}

/// 403 unless the request is the admin's.
pub fn require_admin(req: &HttpRequest) -> Result<(), ApiError> {
    if is_admin(req) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this route needs the admin token; an application token reaches only /v1/apps/{its app}/…".into(),
        ))
    }
}

/// The flat routes that also exist under `/v1/apps/{app}`, for one application.
pub const SCOPED: &[&str] = &[
    "/v1/events",
    "/v1/endpoints",
    "/v1/deliveries",
    "/v1/dead-letters",
    "/v1/transforms",
];

/// Whether `path` (a flat `/v1/…` path) also exists under `/v1/apps/{app}`.
pub fn is_scoped(path: &str) -> bool {
    SCOPED
        .iter()
        .any(|s| path == *s || path.starts_with(&format!("{s}/")))
}
