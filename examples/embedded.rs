//! A small actix-web shop that embeds hookbus.
//!
//! - `POST /orders {"sku": "...", "qty": 1}` stores nothing but publishes a durable
//!   `order.created` event from the shop's own handler;
//! - hookbus's management API is mounted under `/hooks` (`/hooks/v1/...`, dashboard at `/hooks/`);
//! - `GET /metrics` serves the shop's Prometheus recorder, which hookbus's metrics flow into
//!   (so hookbus's own `/metrics` is left out of the mount);
//! - every delivery outcome reaches the shop in-process (`hub.outcomes()`): here it logs
//!   dead letters, where a real shop would alert or mark the order.
//!
//! Run it (deliveries go to `SHOP_WEBHOOK_URL`, default `http://127.0.0.1:9000/webhooks`):
//!
//! ```sh
//! cargo run --example embedded
//! curl -s -X POST localhost:3000/orders -H 'content-type: application/json' -d '{"sku": "tea", "qty": 2}'
//! curl -s localhost:3000/hooks/v1/endpoints
//! ```

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use hookbus::metrics_exporter_prometheus::PrometheusHandle;
use hookbus::prelude::*;
use serde::{Deserialize, Serialize};

/// The shop's order form.
#[derive(Deserialize)]
struct Order {
    sku: String,
    qty: u32,
}

/// What subscribers receive as `data` of `order.created`.
#[derive(Serialize)]
struct OrderCreated<'a> {
    order_id: &'a str,
    sku: &'a str,
    qty: u32,
}

/// The shop's own handler: accept an order, publish `order.created`.
async fn create_order(
    order: web::Json<Order>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    // The shop's own ids (any scheme; hookbus's internal id helpers are not API).
    let order_id = format!("ord_{}", ulid::Ulid::new());
    let data = OrderCreated {
        order_id: &order_id,
        sku: &order.sku,
        qty: order.qty,
    };
    let event = PublishRequest::json("order.created", &data)
        .map_err(|_| ApiError::Internal)?
        // A retried request of the same order publishes once.
        .with_idempotency_key(format!("{order_id}-created"));
    // Durable before we answer. `ApiError::from` keeps hookbus's meaning: an
    // invalid event is a 422 with every problem, a full disk a 503 + Retry-After.
    let receipt = hub.publish(event).await.map_err(ApiError::from)?;
    Ok(HttpResponse::Created()
        .json(serde_json::json!({"order_id": order_id, "event_id": receipt.id})))
}

/// Hear every delivery's outcome in-process; never slows delivery.
pub fn watch_outcomes(hub: &Hookbus) {
    let mut outcomes = hub.outcomes();
    actix_rt::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match outcomes.recv().await {
                Ok(o) if o.kind == OutcomeKind::DeadLettered => tracing::warn!(
                    endpoint = %o.endpoint, delivery = %o.delivery_id, error = ?o.error,
                    "A webhook to a subscriber failed for good."
                ),
                Ok(o) => {
                    tracing::debug!(endpoint = %o.endpoint, kind = ?o.kind, "Delivery outcome.")
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "Outcome watcher fell behind.")
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// The shop's Prometheus endpoint: its own series and hookbus's in one text.
/// `render_metrics` adds what hookbus renders from its own state (per-endpoint
/// gauges, lag, process) and leaves out deleted endpoints' series.
async fn metrics(handle: web::Data<PrometheusHandle>, hub: web::Data<Hookbus>) -> HttpResponse {
    let text = hub.render_metrics().unwrap_or_else(|| handle.render());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// Start the shop on `listen` around an already started `hub`.
pub async fn start_shop(
    listen: &str,
    hub: Hookbus,
    prometheus: PrometheusHandle,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(hub.clone()))
            .app_data(web::Data::new(prometheus.clone()))
            .route("/orders", web::post().to(create_order))
            .route("/metrics", web::get().to(metrics))
            // hookbus's API under a prefix of our choosing; the shop serves its own /metrics.
            .service(
                web::scope("/hooks")
                    .configure(Routes::new(hub.clone()).without_metrics().configure()),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter("info").init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, for people (not a Debug dump).
            eprintln!("error: {}", hookbus::error_report(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The host installs the recorder (hookbus never does so on its own), through
    // hookbus's re-exported `metrics`, so the versions cannot drift apart.
    let recorder = hookbus::telemetry::recorder::build()?;
    let prometheus = recorder.handle();
    hookbus::metrics::set_global_recorder(recorder)?;
    hookbus::telemetry::recorder::describe();

    let url = std::env::var("SHOP_WEBHOOK_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:9000/webhooks".into());
    let hub = Hookbus::builder()
        .data_dir("./shop-data")
        // The demo receiver is on loopback, which the SSRF guard refuses unless allowed.
        .allow_networks(&["127.0.0.0/8"])
        .endpoint(EndpointSpec::new("fulfilment", url, &["order.*"]))
        .metrics_handle(prometheus.clone())
        .start()
        .await?;
    watch_outcomes(&hub);
    let (addr, server) = start_shop("127.0.0.1:3000", hub.clone(), prometheus).await?;
    println!("shop on http://{addr}: POST /orders, hookbus API under /hooks, GET /metrics");
    tokio::signal::ctrl_c().await?;
    server.stop(true).await;
    hub.shutdown().await;
    Ok(())
}
