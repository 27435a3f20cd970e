//! `GET /metrics`: Prometheus text, when a recorder handle is attached.

use actix_web::{HttpResponse, get, web};

use super::ApiError;
use crate::Hookbus;

/// Prometheus exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/metrics")]
pub(super) async fn metrics(hub: web::Data<Hookbus>) -> Result<HttpResponse, ApiError> {
    let text = hub.render_metrics().ok_or_else(|| {
        ApiError::NotFound("no metrics recorder is attached to this hookbus".into())
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
