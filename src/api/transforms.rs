//! `POST /v1/transforms/test`: dry-run a script (inline or an endpoint's) on an event.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;

use super::ApiError;
use crate::Hookbus;
use crate::api::scope::Scope;
use crate::transform::diagnose::Origin;
use crate::transform::dry_run::TestEvent;
use crate::transform::{TransformError, builtin, dry_run, script};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    /// Inline script to try. With `endpoint_id`, it runs in place of that
    /// endpoint's script, with the endpoint's settings (redaction, env, URL, headers).
    script: Option<String>,
    /// The endpoint (id or name) whose script or format to try.
    endpoint_id: Option<String>,
    /// `env` for the script (default: the endpoint's, else none).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The event: a publish body, or a body as delivered (with `id` and `timestamp`).
    event: Option<TestEvent>,
    /// Or: a stored event, by id.
    event_id: Option<String>,
}

/// Dry-run; `200 {output, headers, skipped, error, error_kind, logs, logs_dropped, duration_us}`.
/// Compile errors are 422.
#[utoipa::path(
    post,
    path = "/v1/transforms/test",
    tag = "transforms",
    summary = "Dry-run a script on an event",
    request_body = TestRequest,
    responses(
        (status = 200, description = "The result", body = crate::transform::dry_run::DryRun),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/transforms/test")]
pub(super) async fn test(
    body: super::body::Object<TestRequest>,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let event = match (req.event, req.event_id) {
        (Some(e), None) => e.into_event().map_err(|problems| {
            ApiError::invalid(
                problems
                    .into_iter()
                    .map(|(f, m)| (format!("event.{f}"), m))
                    .collect(),
            )
        })?,
        (None, Some(id)) => {
            app.event(&id)?
                .ok_or_else(|| ApiError::NotFound(format!("event `{id}` not found")))?
                .event
        }
        _ => {
            return Err(ApiError::invalid(vec![(
                "event".into(),
                "give exactly one of `event` or `event_id`".into(),
            )]));
        }
    };
    let endpoint = match &req.endpoint_id {
        Some(id) => Some(app.endpoint_status(id).await?.0),
        None => None,
    };
    let engine = hub.engine().clone();
    let limits = hub.config().transforms.clone();
    // Compiling and running are CPU-bound: keep them off the HTTP worker.
    let result = web::block(move || {
        let (compiled, spec) = match (req.script, endpoint) {
            (Some(src), endpoint) => {
                let invalid = |e: TransformError| vec![("script".to_string(), e.to_string())];
                script::check_size(&src, limits.max_script_bytes).map_err(invalid)?;
                // In an endpoint's place, its errors name that endpoint.
                let (spec, origin) = match endpoint {
                    Some(rec) => (
                        rec.spec.clone(),
                        Origin::inline(&src).of_endpoint(&rec.spec.name),
                    ),
                    None => (dry_run::placeholder_spec(), Origin::inline(&src)),
                };
                let env = match (&spec.transform, req.env.is_empty()) {
                    (Some(t), true) => t.env.clone(),
                    _ => req.env,
                };
                let c = script::compile_as(&engine, &src, env, origin).map_err(invalid)?;
                (Some(c), spec)
            }
            (None, Some(rec)) => {
                let c = builtin::for_endpoint(&engine, &rec.spec, usize::MAX).map_err(|e| {
                    vec![("endpoint_id".to_string(), format!("its script fails: {e}"))]
                })?;
                (c, rec.spec.clone())
            }
            (None, None) => {
                return Err(vec![(
                    "script".to_string(),
                    "give `script`, `endpoint_id`, or both".to_string(),
                )]);
            }
        };
        Ok(dry_run::dry_run(
            &engine,
            compiled.as_deref(),
            &event,
            &spec,
            &limits,
        ))
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(ApiError::invalid)?;
    Ok(HttpResponse::Ok().json(result))
}
