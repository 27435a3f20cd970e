//! Endpoint actions: pause/resume, a test send, secret rotation.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use super::view::EndpointView;
use crate::AppHandle;
use crate::api::ApiError;
use crate::api::scope::{IdPath, Scope};
use crate::endpoint::spec::Status;
use crate::model::Dur;

async fn set_status(app: &AppHandle, id: &str, status: Status) -> Result<HttpResponse, ApiError> {
    let (old, _) = app.endpoint_status(id).await?;
    let mut spec = old.spec.clone();
    spec.status = status;
    let saved = app.update_endpoint(&old.id, spec).await?;
    Ok(HttpResponse::Ok().json(EndpointView::from(saved.record.as_ref())))
}

/// `POST /v1/endpoints/{id}/pause`: queue deliveries, send nothing.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{id}/pause",
    tag = "endpoints",
    summary = "Pause: queue deliveries, send nothing",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "Paused", body = EndpointView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/endpoints/{id}/pause")]
pub(crate) async fn pause(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    set_status(&app, &id, Status::Paused).await
}

/// `POST /v1/endpoints/{id}/resume`: active again (also re-enables a disabled endpoint).
#[utoipa::path(
    post,
    path = "/v1/endpoints/{id}/resume",
    tag = "endpoints",
    summary = "Resume (also re-enables a disabled endpoint)",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "Active", body = EndpointView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/endpoints/{id}/resume")]
pub(crate) async fn resume(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    set_status(&app, &id, Status::Active).await
}

/// The attempt a test send made.
#[derive(Serialize, utoipa::ToSchema)]
struct TestAttempt {
    /// The `hookbus.test` event (its `webhook-id`).
    event_id: String,
    /// Its delivery in the endpoint's history (`test: true`), with the attempt.
    delivery_id: String,
    /// The receiver accepted it.
    success: bool,
    /// The endpoint's transform skipped the event, so nothing was sent.
    filtered: bool,
    /// The receiver's status, if it answered.
    status_code: Option<u16>,
    /// Time until the response, ms (0 when nothing was sent).
    latency_ms: f64,
    /// Why it failed: transport error, refused status or transform error.
    error: Option<String>,
    /// The first 4 KiB of the response.
    response_body: String,
}

/// `POST /v1/endpoints/{id}/test`: send a `hookbus.test` event now through
/// the endpoint's real pipeline (format or transform, redaction, every
/// secret still signing); attempted once, never retried or dead-lettered.
#[utoipa::path(
    post,
    path = "/v1/endpoints/{id}/test",
    tag = "endpoints",
    summary = "Send a hookbus.test event now through the endpoint's pipeline",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "The attempt", body = TestAttempt),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/endpoints/{id}/test")]
pub(crate) async fn test(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    let r = app.test_endpoint(&id).await?;
    Ok(HttpResponse::Ok().json(TestAttempt {
        event_id: r.event_id,
        delivery_id: r.delivery_id,
        success: r.success,
        filtered: r.filtered,
        status_code: r.status_code,
        latency_ms: r.latency_ms,
        error: r.error,
        response_body: r.response_body,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the secrets being replaced keep signing. Default `"24h"`; `"0s"` drops them now.
    #[schema(value_type = Option<String>, example = "24h")]
    grace: Option<Dur>,
    /// Also cut every secret still retiring from earlier rotations, at once
    /// (after a leak: only the new secret signs from now on).
    #[serde(default)]
    revoke_previous: bool,
}

/// A secret still signing after a rotation (its value is never shown again).
#[derive(Serialize, utoipa::ToSchema)]
struct RetiringView {
    /// RFC 3339: when it stops signing.
    expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Rotated {
    endpoint_id: String,
    /// The new secret, shown this once.
    secret: String,
    /// When the last retiring secret stops signing; null when none is retiring.
    old_secrets_expire_at: Option<String>,
    /// Every secret that still signs besides the new one, with its expiry.
    retiring: Vec<RetiringView>,
}

/// `POST /v1/endpoints/{id}/rotate-secret {grace?, revoke_previous?}` → the new secret (shown once).
#[utoipa::path(
    post,
    path = "/v1/endpoints/{id}/rotate-secret",
    tag = "endpoints",
    summary = "Rotate the signing secret with a grace period",
    request_body(content = Option<RotateBody>, description = "Optional; an empty body means grace 24h"),
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "The new secret (shown once)", body = Rotated),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not application/json", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/endpoints/{id}/rotate-secret")]
pub(crate) async fn rotate(
    id: web::Path<IdPath>,
    body: web::Bytes,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    // An empty body is the documented default; anything else must parse,
    // strictly: a typo must not quietly give a leaked secret another day.
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        crate::api::body::parse(&body)?
    };
    let grace = body.grace.unwrap_or(Dur::secs(86400)).get();
    let (record, secret) = app
        .rotate_secret_with(&id, grace, body.revoke_previous)
        .await?;
    let now = crate::ids::now_ms();
    let mut live: Vec<u64> = record
        .retiring_secrets
        .iter()
        .map(|s| s.expires_at)
        .filter(|&t| t > now)
        .collect();
    live.sort_unstable();
    Ok(HttpResponse::Ok().json(Rotated {
        endpoint_id: record.id.clone(),
        secret,
        old_secrets_expire_at: live.last().copied().map(super::view::rfc3339),
        retiring: live
            .into_iter()
            .map(|t| RetiringView {
                expires_at: super::view::rfc3339(t),
            })
            .collect(),
    }))
}
