//! `/healthz` (process up) and `/readyz` (store open, bus answering).

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::Hookbus;

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Process is up",
    responses(
        (status = 200, description = "Up", body = serde_json::Value)
    )
)]
#[get("/healthz")]
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Ready: the store answers reads, its latest write succeeded, and the bus
/// actor answers messages.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Store readable and writable, bus answering",
    responses(
        (status = 200, description = "Ready", body = serde_json::Value),
        (status = 503, description = "Not ready", body = serde_json::Value)
    )
)]
#[get("/readyz")]
pub(super) async fn readyz(hub: web::Data<Hookbus>) -> HttpResponse {
    let readable = hub.store().endpoints().is_ok();
    let writable = hub.store().writable();
    let store_ok = readable && writable;
    let endpoints = hub.endpoints().await.ok().map(|e| e.len());
    let pressure = hub.pressure();
    let pushing_back = pressure.global;
    // Cluster mode: without NATS nothing can be acknowledged.
    let cluster = hub.store().cluster_state();
    let nats_ok = cluster.as_ref().is_none_or(|c| c.connected);
    let ready = store_ok && endpoints.is_some() && !pushing_back && nats_ok;
    let d = &hub.config().delivery;
    let mut body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        // Why publishes answer 503 (push-back), and how far it is from the bound.
        "backlog": {
            "status": if pushing_back { "over" } else { "ok" },
            "healthy": pressure.healthy_backlog,
            "max": d.max_backlog,
            "endpoints_over": pressure.endpoints.len(),
        },
        "store": match (readable, writable) {
            (true, true) => "ok",
            (true, false) => "write_failed",
            _ => "error",
        },
        "bus": if endpoints.is_some() { "ok" } else { "stopped" },
        "endpoints": endpoints,
    });
    if let Some(c) = cluster {
        body["cluster"] = json!({
            "nats": if c.connected { "connected" } else { "unreachable" },
            "applied_seq": c.applied_seq,
            "partitions_owned": c.owned.mine.len(),
            "live_nodes": c.owned.live_nodes,
        });
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
