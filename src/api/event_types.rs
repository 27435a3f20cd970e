//! `/v1/event-types`: the event-type catalogue. Anyone with access reads
//! it (an application token too: a portal shows what can be subscribed to);
//! only the admin changes it.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiError;
use super::endpoints::{Page, page_limit, rfc3339};
use super::scope::require_admin;
use crate::Hookbus;
use crate::directory::CatalogueEntry;
use crate::model::event_type::EventTypeSpec;

/// A catalogued event type: its entry's fields and times (spelled out, not
/// flattened: the entry refuses unknown fields, a view must not).
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    /// The type.
    pub name: String,
    /// What it means.
    pub description: String,
    /// JSON Schema of its `data` (an object, or `true`/`false`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Still accepted, with a warning.
    pub deprecated: bool,
    /// An example `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&CatalogueEntry> for EventTypeView {
    fn from(e: &CatalogueEntry) -> Self {
        let s = e.record.spec.clone();
        Self {
            name: s.name,
            description: s.description,
            schema: s.schema,
            deprecated: s.deprecated,
            example: s.example,
            created_at: rfc3339(e.record.created_at),
            updated_at: rfc3339(e.record.updated_at),
        }
    }
}

#[derive(Deserialize)]
struct NamePath {
    name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    /// Include deprecated types (default true).
    include_deprecated: Option<bool>,
}

/// `GET /v1/event-types`, by name.
#[utoipa::path(get, path = "/v1/event-types", tag = "event-types", summary = "List the event-type catalogue",
    params(("limit" = Option<usize>, Query, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("include_deprecated" = Option<bool>, Query, description = "Default true")),
    responses(
        (status = 200, description = "A page", body = Page<EventTypeView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[get("/event-types")]
pub(super) async fn list(
    q: web::Query<ListQuery>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit)?;
    let with_deprecated = q.include_deprecated.unwrap_or(true);
    let page: Vec<_> = hub
        .directory()
        .event_types()
        .into_iter()
        .filter(|t| {
            q.cursor
                .as_ref()
                .is_none_or(|c| t.record.spec.name.as_str() > c.as_str())
        })
        .filter(|t| with_deprecated || !t.record.spec.deprecated)
        .take(limit + 1)
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_overfetch(
        page,
        limit,
        |t| t.record.spec.name.clone(),
        |t| EventTypeView::from(t.as_ref()),
    )))
}

/// `POST /v1/event-types` → 201; 409 if the name is catalogued; 422 for a
/// schema that does not compile or an example that fails it.
#[utoipa::path(post, path = "/v1/event-types", tag = "event-types", summary = "Add an event type to the catalogue",
    request_body = EventTypeSpec,
    responses(
        (status = 201, description = "Created", body = EventTypeView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[post("/event-types")]
pub(super) async fn create(
    req: HttpRequest,
    body: super::body::Object<EventTypeSpec>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let e = hub
        .directory()
        .create_event_type(body.into_inner())
        .await
        .map_err(crate::BusError::from)?;
    Ok(HttpResponse::Created().json(EventTypeView::from(e.as_ref())))
}

/// `GET /v1/event-types/{name}`.
#[utoipa::path(get, path = "/v1/event-types/{name}", tag = "event-types", summary = "One catalogued event type",
    params(("name" = String, Path, description = "Event type")),
    responses(
        (status = 200, description = "The type", body = EventTypeView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[get("/event-types/{name}")]
pub(super) async fn get_one(
    path: web::Path<NamePath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    let e = hub
        .directory()
        .event_type(&path.name)
        .ok_or_else(|| ApiError::NotFound(format!("event type `{}` not found", path.name)))?;
    Ok(HttpResponse::Ok().json(EventTypeView::from(e.as_ref())))
}

/// `PATCH /v1/event-types/{name}` with a JSON merge patch (the name stays).
#[utoipa::path(patch, path = "/v1/event-types/{name}", tag = "event-types", summary = "Update a catalogued event type with a JSON merge patch",
    request_body = serde_json::Value,
    params(("name" = String, Path, description = "Event type")),
    responses(
        (status = 200, description = "Updated", body = EventTypeView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[patch("/event-types/{name}")]
pub(super) async fn update(
    req: HttpRequest,
    path: web::Path<NamePath>,
    body: web::Json<Value>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let dir = hub.directory();
    let old = dir
        .event_type(&path.name)
        .ok_or_else(|| ApiError::NotFound(format!("event type `{}` not found", path.name)))?;
    let spec: EventTypeSpec = super::endpoints::merge_patch(&old.record.spec, body.into_inner())?;
    let e = dir
        .update_event_type(&path.name, spec)
        .await
        .map_err(crate::BusError::from)?;
    Ok(HttpResponse::Ok().json(EventTypeView::from(e.as_ref())))
}

/// `DELETE /v1/event-types/{name}` → 204.
#[utoipa::path(delete, path = "/v1/event-types/{name}", tag = "event-types", summary = "Remove an event type from the catalogue",
    params(("name" = String, Path, description = "Event type")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[delete("/event-types/{name}")]
pub(super) async fn remove(
    req: HttpRequest,
    path: web::Path<NamePath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    hub.directory()
        .delete_event_type(&path.name)
        .await
        .map_err(crate::BusError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
