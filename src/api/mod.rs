//! The HTTP API (actix-web): publishing, endpoint reads, health, metrics,
//! the dashboard, and the error format.
//! [`configure`] mounts it into any `App`.

mod auth;
pub mod browser;
mod dashboard;
mod dead_letters;
mod deliveries;
pub mod endpoints;
pub mod error;
mod events;
mod fallback;
mod health;
mod manage;
mod metrics;
pub mod openapi;
mod openapi_doc;
mod script_path;
mod transforms;

use actix_web::web;

pub use error::ApiError;

use crate::Hookbus;

/// Mount hookbus's routes (`/v1/...`, `/healthz`, `/readyz`, `/metrics`, `/`) into an app.
///
/// # Examples
/// ```no_run
/// # async fn demo(hub: hookbus::Hookbus) -> std::io::Result<()> {
/// use actix_web::{App, HttpServer};
/// HttpServer::new(move || App::new().configure(hookbus::api::configure(hub.clone())))
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await
/// # }
/// ```
pub fn configure(hub: Hookbus) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let token = hub.config().server.api_token.clone();
        let origins = hub.config().server.cors_origins.clone();
        let json = web::JsonConfig::default()
            .limit(hub.config().delivery.max_batch_bytes)
            .error_handler(error::json_error);
        cfg.app_data(web::Data::new(hub))
            .app_data(json)
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .service(health::healthz)
            .service(health::readyz)
            .service(metrics::metrics)
            .service(dashboard::dashboard)
            .service(openapi::openapi_json)
            .service(
                web::scope("/v1")
                    .wrap(auth::BearerAuth::new(token))
                    // Outermost: preflights are answered (and cross-site requests
                    // refused) before authentication.
                    .wrap(browser::BrowserGuard::new(&origins))
                    .service(events::publish)
                    .service(events::publish_batch)
                    .service(deliveries::event)
                    .service(endpoints::list)
                    .service(manage::create)
                    .service(endpoints::stats)
                    .service(deliveries::list)
                    .service(manage::pause)
                    .service(manage::resume)
                    .service(manage::test)
                    .service(manage::rotate)
                    .service(endpoints::get_one)
                    .service(manage::update)
                    .service(manage::remove)
                    .service(deliveries::get_one)
                    .service(deliveries::retry)
                    .service(transforms::test)
                    .service(dead_letters::list)
                    .service(dead_letters::replay)
                    .service(dead_letters::purge)
                    .configure(|c| fallback::register(c, "/v1"))
                    .default_service(web::to(fallback::not_found)),
            );
        fallback::register(cfg, "");
    }
}
