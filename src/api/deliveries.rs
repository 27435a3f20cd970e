//! Deliveries: an endpoint's list, one with every attempt, manual retry.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::endpoints::{Page, rfc3339};
use crate::Hookbus;
use crate::api::scope::{IdPath, Scope};
use crate::bus::BusError;
use crate::store::records::{AttemptRecord, DeliveryRecord, DeliveryStatus};

/// A delivery as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `dlv_<ULID>`.
    pub id: String,
    /// Its event.
    pub event_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// pending, failed, delivered, dead, filtered.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339, when a retry is scheduled.
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// True for an endpoint test send (`POST /v1/endpoints/{id}/test`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// Every attempt (only on `GET /v1/deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_history: Option<Vec<AttemptView>>,
}

/// One attempt.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// 1-based.
    pub attempt: u32,
    /// RFC 3339.
    pub at: String,
    /// HTTP status, if the receiver answered.
    pub status_code: Option<u16>,
    /// ms.
    pub latency_ms: f64,
    /// What went wrong.
    pub error: Option<String>,
    /// First 4 KiB of the response.
    pub response_body: String,
    /// 2xx, 3xx, 4xx, 5xx, timeout, connect_error.
    pub result: String,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            at: rfc3339(a.at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response_body: a.response_body,
            result: a.result,
        }
    }
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            endpoint_id: d.endpoint_id,
            status: d.status,
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            last_error: d.last_error,
            test: d.test,
            attempt_history: None,
        }
    }
}

/// Which end of the history a list starts from.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ListOrder {
    /// Oldest first (the default).
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<DeliveryStatus>,
    limit: Option<usize>,
    cursor: Option<String>,
    #[serde(default)]
    order: ListOrder,
}

/// `GET /v1/endpoints/{id}/deliveries?status=&limit=&cursor=&order=`, oldest
/// first unless `order=desc`.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{id}/deliveries",
    tag = "deliveries",
    summary = "An endpoint's deliveries",
    params(("id" = String, Path, description = "Id or name"), ("status" = Option<DeliveryStatus>, Query, description = "pending, failed, delivered, dead or filtered"), ("limit" = Option<usize>, Query, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("order" = Option<ListOrder>, Query, description = "asc (oldest first, default) or desc (newest first)")),
    responses(
        (status = 200, description = "A page", body = Page<DeliveryView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/endpoints/{id}/deliveries")]
pub(super) async fn list(
    id: web::Path<IdPath>,
    q: web::Query<ListQuery>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let (record, _) = app.endpoint_status(&id).await?;
    let limit = super::endpoints::page_limit(q.limit)?;
    let status = q.status;
    let found = hub
        .store()
        .endpoint_deliveries(
            &record.id,
            q.cursor.as_deref(),
            q.order == ListOrder::Desc,
            limit + 1,
            |d| status.is_none_or(|s| d.status == s),
        )
        .map_err(BusError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_overfetch(
        found,
        limit,
        |d| d.id.clone(),
        DeliveryView::from,
    )))
}

/// `GET /v1/deliveries/{id}` with every attempt.
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    tag = "deliveries",
    summary = "A delivery with every attempt",
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/deliveries/{id}")]
pub(super) async fn get_one(
    id: web::Path<IdPath>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let id = &id.id;
    let d = app
        .delivery(id)?
        .ok_or_else(|| ApiError::NotFound(format!("delivery `{id}` not found")))?;
    let attempts = hub.store().attempts(&d.id).map_err(BusError::from)?;
    let mut view = DeliveryView::from(d);
    view.attempt_history = Some(attempts.into_iter().map(AttemptView::from).collect());
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /v1/deliveries/{id}/retry` → 202; 409 if it is still pending.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/retry",
    tag = "deliveries",
    summary = "Attempt a finished delivery again",
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/deliveries/{id}/retry")]
pub(super) async fn retry(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    app.retry_delivery(&id).await?;
    Ok(HttpResponse::Accepted()
        .json(serde_json::json!({"id": id.into_inner().id, "status": "pending"})))
}
