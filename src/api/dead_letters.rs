//! Dead letters: list, replay (or dry-run), purge.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::endpoints::{Page, rfc3339};
use crate::AppHandle;
use crate::Hookbus;
use crate::api::scope::Scope;
use crate::bus::dead_letters::{self, DeadLetterFilter};
use crate::store::records::DeadLetter;

/// A dead letter as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    /// The delivery id (use it with `GET /v1/deliveries/{id}` and replay).
    pub delivery_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// Its event.
    pub event_id: String,
    /// Why it was given up.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// RFC 3339.
    pub dead_at: String,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self {
            dead_at: rfc3339(d.dead_at),
            delivery_id: d.delivery_id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            reason: d.reason,
            attempts: d.attempts,
        }
    }
}

/// Filters shared by list, replay and purge; times are RFC 3339.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Filter {
    endpoint: Option<String>,
    since: Option<String>,
    until: Option<String>,
    ids: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn parse_time(field: &str, v: &Option<String>) -> Result<Option<u64>, (String, String)> {
    v.as_deref()
        .map(|s| {
            // Any RFC 3339 time, offsets included (what OpenAPI's `date-time` means).
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    (
                        field.to_string(),
                        format!("`{s}` is not an RFC 3339 time: {e}"),
                    )
                })
                .map(|t| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        })
        .transpose()
}

/// `POST /v1/dead-letters/replay` body: the filters, without paging.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// Endpoint id or name.
    endpoint: Option<String>,
    /// RFC 3339: dead at or after.
    since: Option<String>,
    /// RFC 3339: dead before.
    until: Option<String>,
    /// Only these delivery ids.
    ids: Option<Vec<String>>,
    /// Only report what would be replayed.
    #[serde(default)]
    dry_run: bool,
}

impl From<ReplayBody> for Filter {
    fn from(b: ReplayBody) -> Self {
        Filter {
            endpoint: b.endpoint,
            since: b.since,
            until: b.until,
            ids: b.ids,
            dry_run: b.dry_run,
            limit: None,
            cursor: None,
        }
    }
}

impl Filter {
    fn to_filter(&self, app: &AppHandle) -> Result<DeadLetterFilter, ApiError> {
        let mut problems = Vec::new();
        let since = parse_time("since", &self.since).unwrap_or_else(|p| {
            problems.push(p);
            None
        });
        let until = parse_time("until", &self.until).unwrap_or_else(|p| {
            problems.push(p);
            None
        });
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems));
        }
        Ok(DeadLetterFilter {
            app: app.id().to_string(),
            endpoint: self.endpoint.clone(),
            since,
            until,
            ids: self.ids.clone(),
        })
    }
}

/// The filter's endpoint (id or name) as an id; 404 if unknown.
async fn resolve(app: &AppHandle, filter: &DeadLetterFilter) -> Result<Option<String>, ApiError> {
    Ok(match &filter.endpoint {
        Some(e) => Some(app.endpoint_status(e).await?.0.id.clone()),
        None => None,
    })
}

/// Dead letters matching `filter`, its endpoint name resolved to an id (404 if unknown).
async fn matching(
    hub: &Hookbus,
    app: &AppHandle,
    filter: &DeadLetterFilter,
) -> Result<Vec<DeadLetter>, ApiError> {
    let endpoint = resolve(app, filter).await?;
    let (store, filter) = (hub.store().clone(), filter.clone());
    // Every match is read: off the HTTP worker, which publishes share.
    web::block(move || dead_letters::matching(&store, &filter, endpoint.as_deref()))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| crate::bus::BusError::from(e).into())
}

/// `GET /v1/dead-letters?endpoint=&since=&until=&limit=&cursor=`, oldest delivery first.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    tag = "dead-letters",
    summary = "List dead letters",
    params(("endpoint" = Option<String>, Query, description = "Endpoint id or name"), ("since" = Option<String>, Query, description = "RFC 3339"), ("until" = Option<String>, Query, description = "RFC 3339"), ("limit" = Option<usize>, Query, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page", body = Page<DeadLetterView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/dead-letters")]
pub(super) async fn list(
    q: web::Query<Filter>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let filter = q.to_filter(&app)?;
    let limit = super::endpoints::page_limit(q.limit)?;
    let endpoint = resolve(&app, &filter).await?;
    // One page (plus one to know whether another follows), read through the indexes.
    let data: Vec<DeadLetter> = dead_letters::page(
        hub.store(),
        &filter,
        endpoint.as_deref(),
        q.cursor.as_deref(),
        limit + 1,
    )
    .map_err(crate::bus::BusError::from)?;
    Ok(HttpResponse::Ok().json(Page::from_overfetch(
        data,
        limit,
        |d| d.delivery_id.clone(),
        DeadLetterView::from,
    )))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Outcome {
    dry_run: bool,
    count: usize,
    data: Vec<DeadLetterView>,
}

/// The 200 listing every dead letter replayed or purged, rendered on the
/// blocking pool: 20,000 of them took the (single) HTTP worker tens of ms,
/// and the publishes it serves waited (docs/BENCHMARKS.md).
async fn outcome(dry_run: bool, found: Vec<DeadLetter>) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || {
        serde_json::to_vec(&Outcome {
            dry_run,
            count: found.len(),
            data: found.into_iter().map(DeadLetterView::from).collect(),
        })
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `POST /v1/dead-letters/replay {endpoint?, since?, until?, ids?, dry_run?}`.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/replay",
    tag = "dead-letters",
    summary = "Replay dead letters (or dry-run)",
    request_body = ReplayBody,
    responses(
        (status = 200, description = "What was (or would be) replayed", body = Outcome),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/dead-letters/replay")]
pub(super) async fn replay(
    body: super::body::Object<ReplayBody>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let body = Filter::from(body.into_inner());
    let found = app
        .replay_dead_letters(body.to_filter(&app)?, body.dry_run)
        .await?;
    outcome(body.dry_run, found).await
}

/// `DELETE /v1/dead-letters` with the same filters as query parameters.
#[utoipa::path(
    delete,
    path = "/v1/dead-letters",
    tag = "dead-letters",
    summary = "Purge dead letters",
    params(("endpoint" = Option<String>, Query, description = "Endpoint id or name"), ("since" = Option<String>, Query, description = "RFC 3339"), ("until" = Option<String>, Query, description = "RFC 3339"), ("dry_run" = Option<bool>, Query, description = "Only report")),
    responses(
        (status = 200, description = "What was (or would be) purged", body = Outcome),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[delete("/dead-letters")]
pub(super) async fn purge(
    q: web::Query<Filter>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let found = if q.dry_run {
        matching(&hub, &app, &q.to_filter(&app)?).await?
    } else {
        app.purge_dead_letters(q.to_filter(&app)?).await?
    };
    outcome(q.dry_run, found).await
}
