//! Changing endpoints: create (secrets shown once), JSON merge patch, delete.

use actix_web::{HttpResponse, delete, patch, post, web};
use serde::Serialize;
use serde_json::Value;

use super::view::{EndpointView, REDACTED};
use crate::Hookbus;
use crate::api::scope::{IdPath, Scope};
use crate::api::{ApiError, script_path};
use crate::endpoint::spec::{Auth, EndpointSpec};

/// Create answer: the endpoint with its secrets shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    #[serde(flatten)]
    view: EndpointView,
}

/// `POST /v1/endpoints` → 201, secrets shown once; 409 on a taken name; 422 on invalid input.
#[utoipa::path(
    post,
    path = "/v1/endpoints",
    tag = "endpoints",
    summary = "Create an endpoint (secrets shown once)",
    request_body = EndpointSpec,
    responses(
        (status = 201, description = "Created; secrets shown this once", body = EndpointView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/endpoints")]
pub(crate) async fn create(
    body: crate::api::body::Object<EndpointSpec>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let mut spec = body.into_inner();
    let scripts_dir = hub.config().transforms.scripts_dir.clone();
    script_path::admit(&mut spec, None, scripts_dir.as_deref())?;
    let from_file = spec.transform.as_ref().is_some_and(|t| t.path.is_some());
    let saved = app.create_endpoint(spec).await.map_err(|e| {
        let e = ApiError::from(e);
        if from_file {
            script_path::hide_file_content(e)
        } else {
            e
        }
    })?;
    let mut view = EndpointView::from(saved.record.as_ref());
    view.spec = saved.record.spec.clone(); // unredacted, once
    Ok(HttpResponse::Created().json(Created { view }))
}

/// `old` with an RFC 7396 merge patch applied, read back as its type. The
/// patch must be an object; `id`, `created_at` and `updated_at` (read-only
/// fields a client may echo back from a GET) are ignored.
pub(crate) fn merge_patch<T: Serialize + serde::de::DeserializeOwned>(
    old: &T,
    patch: Value,
) -> Result<T, ApiError> {
    let mut doc = serde_json::to_value(old).map_err(|_| ApiError::Internal)?;
    let Value::Object(mut p) = patch else {
        return Err(ApiError::invalid(vec![(
            "body".into(),
            "must be a JSON object (merge patch)".into(),
        )]));
    };
    for k in ["id", "created_at", "updated_at"] {
        p.remove(k);
    }
    merge(&mut doc, &Value::Object(p));
    serde_json::from_value(doc).map_err(|e| ApiError::invalid(vec![("body".into(), e.to_string())]))
}

/// RFC 7396 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Values echoed back as `***` (from a read) mean "unchanged".
fn keep_redacted(new: &mut EndpointSpec, old: &EndpointSpec) {
    if new.signing.secrets.iter().any(|s| s == REDACTED) {
        new.signing.secrets = old.signing.secrets.clone();
    }
    match (&mut new.auth, &old.auth) {
        (Auth::Basic { password, .. }, Auth::Basic { password: old, .. })
            if password == REDACTED =>
        {
            *password = old.clone()
        }
        (Auth::Bearer { token }, Auth::Bearer { token: old }) if token == REDACTED => {
            *token = old.clone()
        }
        (Auth::ApiKey { key, .. }, Auth::ApiKey { key: old, .. }) if key == REDACTED => {
            *key = old.clone()
        }
        _ => {}
    }
}

/// `PATCH /v1/endpoints/{id}` with a JSON merge patch of the endpoint schema.
#[utoipa::path(
    patch,
    path = "/v1/endpoints/{id}",
    tag = "endpoints",
    summary = "Update an endpoint with a JSON merge patch",
    request_body = serde_json::Value,
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 200, description = "Updated", body = EndpointView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[patch("/endpoints/{id}")]
pub(crate) async fn update(
    id: web::Path<IdPath>,
    body: web::Json<Value>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let (old, _) = app.endpoint_status(&id).await?;
    let mut spec: EndpointSpec = merge_patch(&old.spec, body.into_inner())?;
    keep_redacted(&mut spec, &old.spec);
    let scripts_dir = hub.config().transforms.scripts_dir.clone();
    script_path::admit(&mut spec, Some(&old.spec), scripts_dir.as_deref())?;
    let from_file = spec.transform.as_ref().is_some_and(|t| t.path.is_some());
    let saved = app.update_endpoint(&old.id, spec).await.map_err(|e| {
        let e = ApiError::from(e);
        if from_file {
            script_path::hide_file_content(e)
        } else {
            e
        }
    })?;
    Ok(HttpResponse::Ok().json(EndpointView::from(saved.record.as_ref())))
}

/// `DELETE /v1/endpoints/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/v1/endpoints/{id}",
    tag = "endpoints",
    summary = "Delete an endpoint",
    params(("id" = String, Path, description = "Id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[delete("/endpoints/{id}")]
pub(crate) async fn remove(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    app.delete_endpoint(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}
