//! `POST /v1/transforms/test`: dry-run a script (inline or an endpoint's) on an event.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;

use super::ApiError;
use crate::Hookbus;
use crate::endpoint::spec::EndpointSpec;
use crate::event::{Event, PublishRequest};
use crate::transform::{builtin, dry_run, script};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    /// Inline script to try.
    script: Option<String>,
    /// Or: the endpoint (id or name) whose script or format to try.
    endpoint_id: Option<String>,
    /// `env` for an inline script.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The event, as it would be published.
    event: PublishRequest,
}

/// Dry-run; `200 {output, headers, skipped, error, duration_us}`. Compile errors are 422.
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
    body: web::Json<TestRequest>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let problems: Vec<(String, String)> = req
        .event
        .problems()
        .into_iter()
        .map(|(f, m)| (format!("event.{f}"), m))
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let engine = hub.engine().clone();
    let (compiled, spec) = match (req.script, req.endpoint_id) {
        (Some(src), None) => {
            let c = script::compile(&engine, &src, req.env)
                .map_err(|e| ApiError::invalid(vec![("script".into(), e.to_string())]))?;
            (
                Some(c),
                EndpointSpec::new("dry-run", "http://127.0.0.1/", &[]),
            )
        }
        (None, Some(id)) => {
            let (record, _) = hub.endpoint_status(&id).await?;
            let c = builtin::for_endpoint(&engine, &record.spec).map_err(|e| {
                ApiError::invalid(vec![(
                    "endpoint_id".into(),
                    format!("its script fails: {e}"),
                )])
            })?;
            (c, record.spec.clone())
        }
        _ => {
            return Err(ApiError::invalid(vec![(
                "script".into(),
                "give exactly one of `script` or `endpoint_id`".into(),
            )]));
        }
    };
    let event = Event::accept(req.event);
    let max_output = hub.config().transforms.max_output_bytes;
    // Scripts are CPU-bound: keep them off the HTTP worker.
    let result = web::block(move || {
        dry_run::dry_run(&engine, compiled.as_deref(), &event, &spec, max_output)
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok().json(result))
}
