//! A small actix-web shop that embeds hookbus.
//!
//! - `POST /orders {"sku": "...", "qty": 1}` stores nothing but publishes a durable
//!   `order.created` event from the shop's own handler;
//! - hookbus's management API is mounted under `/hooks` (`/hooks/v1/...`, dashboard at `/hooks/`);
//! - `GET /metrics` serves the shop's Prometheus recorder, which hookbus's metrics flow into.
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
use hookbus::endpoint::spec::EndpointSpec;
use hookbus::{Hookbus, PublishRequest};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

/// The shop's order form.
#[derive(Deserialize)]
struct Order {
    sku: String,
    qty: u32,
}

/// The shop's own handler: accept an order, publish `order.created`.
async fn create_order(order: web::Json<Order>, hub: web::Data<Hookbus>) -> HttpResponse {
    let order_id = format!("ord_{}", hookbus::ids::next_ulid());
    let event = PublishRequest::new(
        "order.created",
        serde_json::json!({"order_id": order_id, "sku": order.sku, "qty": order.qty}),
    );
    // Durable before we answer: the customer's order will reach every subscriber.
    match hub.publish(event).await {
        Ok(receipt) => HttpResponse::Created()
            .json(serde_json::json!({"order_id": order_id, "event_id": receipt.id})),
        Err(e) => {
            HttpResponse::ServiceUnavailable().body(format!("could not record the order: {e}"))
        }
    }
}

/// The shop's Prometheus endpoint.
async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
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
            // hookbus's whole API under a prefix of our choosing.
            .service(web::scope("/hooks").configure(hookbus::api::configure(hub.clone())))
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    // The host installs the recorder (hookbus never does so on its own).
    let recorder = hookbus::telemetry::recorder::build()?;
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;
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
    let (addr, server) = start_shop("127.0.0.1:3000", hub.clone(), prometheus).await?;
    println!("shop on http://{addr}: POST /orders, hookbus API under /hooks, GET /metrics");
    tokio::signal::ctrl_c().await?;
    server.stop(true).await;
    hub.shutdown().await;
    Ok(())
}
