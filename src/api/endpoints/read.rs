//! Reading endpoints: list (name order, status and event filters), one, stats.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::view::{EndpointView, Page, page_limit};
use crate::api::ApiError;
use crate::api::scope::{IdPath, Scope};
use crate::bus::matcher::list_matches;
use crate::endpoint::breaker::State as BreakerState;
use crate::endpoint::spec::Status;
use crate::endpoint::stats::StatsView;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    event: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/endpoints?status=&event=&limit=&cursor=`, in name order.
#[utoipa::path(
    get,
    path = "/v1/endpoints",
    tag = "endpoints",
    summary = "List endpoints (name order)",
    params(("status" = Option<Status>, Query, description = "active, paused or disabled"), ("event" = Option<String>, Query, description = "Only endpoints receiving this type"), ("limit" = Option<usize>, Query, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page", body = Page<EndpointView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/endpoints")]
pub(crate) async fn list(q: web::Query<ListQuery>, app: Scope) -> Result<HttpResponse, ApiError> {
    if let Some(t) = &q.event {
        crate::event::validate_event_type(t)
            .map_err(|e| ApiError::invalid(vec![("event".into(), e)]))?;
    }
    let limit = page_limit(q.limit)?;
    let all = app.endpoints().await?;
    let data: Vec<EndpointView> = all
        .iter()
        .filter(|r| {
            q.cursor
                .as_ref()
                .is_none_or(|c| r.spec.name.as_str() > c.as_str())
        })
        .filter(|r| q.status.is_none_or(|s| r.spec.status == s))
        .filter(|r| {
            q.event
                .as_ref()
                .is_none_or(|t| list_matches(&r.spec.patterns(), t))
        })
        .take(limit + 1)
        .map(|r| EndpointView::from(r.as_ref()))
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_overfetch(
        data,
        limit,
        |e| e.spec.name.clone(),
        |e| e,
    )))
}

/// `GET /v1/endpoints/{id}` (id or name).
#[utoipa::path(
    get,
    path = "/v1/endpoints/{id}",
    tag = "endpoints",
    summary = "One endpoint (secrets redacted)",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/endpoints/{id}")]
pub(crate) async fn get_one(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    let (record, _) = app.endpoint_status(&id).await?;
    Ok(HttpResponse::Ok().json(EndpointView::from(record.as_ref())))
}

/// `GET /v1/endpoints/{id}/stats` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointStats {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Endpoint name.
    pub name: String,
    /// active, paused, disabled.
    pub status: Status,
    /// closed, half_open, open.
    pub breaker: BreakerState,
    /// Deliveries waiting.
    pub queue_depth: usize,
    /// Attempts in flight.
    pub in_flight: usize,
    /// Dead letters held.
    pub dead_letters: u64,
    /// Counts and mean latency since the endpoint's creation (kept across
    /// restarts); percentiles over the running process's recent attempts.
    #[serde(flatten)]
    pub stats: StatsView,
}

/// `GET /v1/endpoints/{id}/stats`.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{id}/stats",
    tag = "endpoints",
    summary = "Delivery statistics of one endpoint",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "Statistics", body = EndpointStats),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/endpoints/{id}/stats")]
pub(crate) async fn stats(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    let (record, snap) = app.endpoint_status(&id).await?;
    Ok(HttpResponse::Ok().json(EndpointStats {
        endpoint_id: record.id.clone(),
        name: record.spec.name.clone(),
        status: record.spec.status,
        breaker: snap.breaker,
        queue_depth: snap.queue_depth,
        in_flight: snap.in_flight,
        dead_letters: snap.dead_letters,
        stats: snap.stats,
    }))
}
