//! `POST /v1/events` and `POST /v1/events/batch`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::scope::{IdPath, Scope};
use crate::Hookbus;
use crate::bus::messages::PublishReceipt;
use crate::event::{PublishRequest, RawPayload};

/// Read the whole body, refusing (413) as soon as it exceeds `limit`.
async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Malformed(format!("cannot read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The caller's W3C `traceparent`, if it sent a well-formed one.
fn traceparent_header(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("traceparent")?.to_str().ok()?.trim();
    crate::event::is_traceparent(v).then(|| v.to_string())
}

fn idempotency_header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= crate::event::MAX_ID_LEN => {
                Ok(Some(s.to_string()))
            }
            _ => Err(ApiError::invalid(vec![(
                "header.Idempotency-Key".into(),
                format!(
                    "must be 1..={} visible ASCII characters",
                    crate::event::MAX_ID_LEN
                ),
            )])),
        },
    }
}

/// Publish one event; 202 once it and its deliveries are durable.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Publish one event; 202 once it and its deliveries are durable",
    request_body = crate::event::PublishRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat within 24 h to get the first answer")),
    responses(
        (status = 202, description = "Accepted and durable", body = crate::bus::messages::PublishReceipt),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; nothing acknowledged", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/events")]
pub(super) async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let limit = hub.config().delivery.max_event_bytes;
    let body = read_limited(&req, payload, limit).await?;
    // The payload stays text unless something reads it; anything unusual
    // (and every error message) goes through the tree parse.
    let (mut event, raw) = match RawPayload::parse(&body) {
        Some((event, raw)) => (event, vec![Some(raw)]),
        None => (super::body::parse::<PublishRequest>(&body)?, Vec::new()),
    };
    if let Some(key) = idempotency_header(&req)? {
        event.idempotency_key.get_or_insert(key);
    }
    if let Some(tp) = traceparent_header(&req) {
        event = event.with_traceparent(tp);
    }
    let (mut receipts, checked) = app.publish_raw(vec![event], raw, false).await?;
    let receipt = receipts.pop().ok_or(ApiError::Internal)?;
    Ok(accepted(&checked).json(receipt))
}

/// A 202, with a `Warning` (RFC 7234 code 299) per deprecated type published.
fn accepted(checked: &crate::directory::Checked) -> actix_web::HttpResponseBuilder {
    let mut resp = HttpResponse::Accepted();
    for t in &checked.deprecated {
        resp.append_header((
            "warning",
            format!("299 hookbus \"event type `{t}` is deprecated\""),
        ));
    }
    resp
}

/// `POST /v1/events/batch` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<PublishRequest>,
}

/// `POST /v1/events/batch` answer.
#[derive(Serialize, utoipa::ToSchema)]
struct BatchReceipt {
    events: Vec<PublishReceipt>,
}

/// Publish many events in one durable batch; 202 once all are durable.
#[utoipa::path(
    post,
    path = "/v1/events/batch",
    tag = "events",
    summary = "Publish many events in one durable batch",
    request_body = Batch,
    responses(
        (status = 202, description = "Accepted and durable", body = BatchReceipt),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; nothing acknowledged", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/events/batch")]
pub(super) async fn publish_batch(
    req: HttpRequest,
    payload: web::Payload,
    hub: web::Data<Hookbus>,
    app: Scope,
) -> Result<HttpResponse, ApiError> {
    let d = &hub.config().delivery;
    let body = read_limited(&req, payload, d.max_batch_bytes).await?;
    // Payloads stay text when every event's can (see `publish`).
    let (events, raw): (Vec<PublishRequest>, Vec<Option<RawPayload>>) =
        match RawPayload::parse_batch(&body) {
            Some(kept) => kept.into_iter().map(|(e, r)| (e, Some(r))).unzip(),
            None => (super::body::parse::<Batch>(&body)?.events, Vec::new()),
        };
    if events.is_empty() || events.len() > d.max_batch_events {
        return Err(ApiError::invalid(vec![(
            "events".into(),
            format!("must hold 1..={} events", d.max_batch_events),
        )]));
    }
    // Each event on its own must respect the single-event limit.
    let size = |i: usize, e: &PublishRequest| match raw.get(i) {
        Some(Some(r)) => r.request_len(e),
        _ => serde_json::to_vec(e).map_or(0, |v| v.len()),
    };
    let too_big: Vec<(String, String)> = events
        .iter()
        .enumerate()
        .filter(|(i, e)| size(*i, e) > d.max_event_bytes)
        .map(|(i, _)| {
            (
                format!("events[{i}]"),
                format!("exceeds max_event_bytes ({})", d.max_event_bytes),
            )
        })
        .collect();
    if !too_big.is_empty() {
        return Err(ApiError::invalid(too_big));
    }
    let tp = traceparent_header(&req);
    let events = events
        .into_iter()
        .map(|e| match &tp {
            Some(tp) => e.with_traceparent(tp.clone()),
            None => e,
        })
        .collect();
    let (receipts, checked) = app.publish_raw(events, raw, true).await?;
    Ok(accepted(&checked).json(BatchReceipt { events: receipts }))
}

/// `GET /v1/events/{id}`: the event and its deliveries.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    summary = "An event with its deliveries",
    params(("id" = String, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event and its deliveries", body = serde_json::Value),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[get("/events/{id}")]
pub(super) async fn get_one(id: web::Path<IdPath>, app: Scope) -> Result<HttpResponse, ApiError> {
    let id = &id.id;
    let stored = app
        .event(id)?
        .ok_or_else(|| ApiError::NotFound(format!("event `{id}` not found")))?;
    let mut deliveries = Vec::new();
    for r in &stored.deliveries {
        if let Some(d) = app.delivery(&r.id)? {
            deliveries.push(super::deliveries::DeliveryView::from(d));
        }
    }
    let mut body = serde_json::to_value(&stored.event).map_err(|_| ApiError::Internal)?;
    body["deliveries"] = serde_json::to_value(deliveries).map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok().json(body))
}
