//! The HTTP API (actix-web): publishing, endpoint reads, health, metrics,
//! the dashboard, and the error format.
//! [`configure`] mounts it into any `App`.

mod apps;
mod auth;
mod body;
pub mod browser;
mod dashboard;
mod dead_letters;
mod deliveries;
pub mod endpoints;
pub mod error;
mod event_types;
mod events;
mod fallback;
mod health;
mod metrics;
pub mod openapi;
mod openapi_doc;
mod openapi_edit;
mod openapi_tenancy;
pub mod scope;
mod script_path;
mod transforms;

use actix_web::web;

pub use error::ApiError;

use crate::Hookbus;

/// Mount hookbus's routes (`/v1/...`, `/healthz`, `/readyz`, `/metrics`,
/// `/openapi.json` and the dashboard at `/`) into an app — best inside a
/// scope of the host's choosing. hookbus's JSON, query and path extractor
/// settings apply to its own routes only, so a host's handlers keep theirs.
/// See [`Routes`] to leave out `/metrics` or the dashboard.
///
/// # Examples
/// ```no_run
/// # async fn demo(hub: hookbus::Hookbus) -> std::io::Result<()> {
/// use actix_web::{App, HttpServer, web};
/// HttpServer::new(move || {
///     App::new()
///         // hookbus under /hooks: /hooks/v1/..., the dashboard at /hooks/ (and /hooks).
///         .service(web::scope("/hooks").configure(hookbus::api::configure(hub.clone())))
/// })
/// .bind("127.0.0.1:8080")?
/// .run()
/// .await
/// # }
/// ```
pub fn configure(hub: Hookbus) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    Routes::new(hub).configure()
}

/// Which of hookbus's routes to mount: everything by default; a host with
/// its own `/metrics` (or no use for the dashboard) leaves them out.
///
/// # Examples
/// ```no_run
/// # fn demo(hub: hookbus::Hookbus) {
/// let routes = hookbus::api::Routes::new(hub).without_metrics().without_dashboard();
/// let app = actix_web::App::new().service(actix_web::web::scope("/hooks").configure(routes.configure()));
/// # }
/// ```
#[derive(Clone)]
pub struct Routes {
    hub: Hookbus,
    metrics: bool,
    dashboard: bool,
}

impl Routes {
    /// Every route.
    pub fn new(hub: Hookbus) -> Self {
        Self {
            hub,
            metrics: true,
            dashboard: true,
        }
    }

    /// Leave out `/metrics` (the host serves its own recorder).
    pub fn without_metrics(mut self) -> Self {
        self.metrics = false;
        self
    }

    /// Leave out the dashboard at `/`.
    pub fn without_dashboard(mut self) -> Self {
        self.dashboard = false;
        self
    }

    /// The function to pass to `App::configure` or `Scope::configure`.
    pub fn configure(self) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
        move |cfg: &mut web::ServiceConfig| self.mount(cfg)
    }

    fn mount(self, cfg: &mut web::ServiceConfig) {
        let hub = self.hub;
        let hub_directory = hub.directory().clone();
        let token = hub.config().server.api_token.clone();
        let origins = hub.config().server.cors_origins.clone();
        let json = web::JsonConfig::default()
            .limit(hub.config().delivery.max_batch_bytes)
            .error_handler(error::json_error);
        cfg.app_data(web::Data::new(hub))
            .service(health::healthz)
            .service(health::readyz)
            .service(openapi::openapi_json);
        if self.metrics {
            cfg.service(metrics::metrics);
        }
        if self.dashboard {
            cfg.service(dashboard::dashboard)
                // Under a scope, `/hooks` (no slash) is the scope's own path.
                .service(web::resource("").route(web::get().to(dashboard::to_slash)));
        }
        let directory = hub_directory;
        cfg.service(
            web::scope("/v1")
                // Extractor settings on hookbus's own scope only: a host's
                // routes keep their limits and error format.
                .app_data(json)
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .wrap(auth::BearerAuth::new(token, directory))
                // Outermost: preflights are answered (and cross-site requests
                // refused) before authentication.
                .wrap(browser::BrowserGuard::new(&origins))
                // First: actix tries resources in order, and every dynamic
                // one before a match runs a regex; publishing is the hot path.
                .configure(publish_routes)
                .service(apps::list)
                .service(apps::create)
                .service(apps::create_token)
                .service(apps::list_tokens)
                .service(apps::revoke_token)
                .service(apps::get_one)
                .service(apps::update)
                .service(apps::remove)
                .service(event_types::list)
                .service(event_types::create)
                .service(event_types::get_one)
                .service(event_types::update)
                .service(event_types::remove)
                // `/apps/{app}` and its tokens answer 405 before the scope below takes the prefix.
                .configure(|c| fallback::register(c, "/v1", &|p| p.starts_with("/v1/apps")))
                // One application's routes: the same handlers, scoped by `{app}`.
                .service(
                    web::scope("/apps/{app}")
                        .configure(app_routes)
                        .configure(|c| fallback::register(c, "/v1", &scope::is_scoped))
                        .default_service(web::to(fallback::not_found)),
                )
                // The flat routes: the default application (publishing is above).
                .configure(other_app_routes)
                .configure(|c| fallback::register(c, "/v1", &|p| !p.starts_with("/v1/apps")))
                .default_service(web::to(fallback::not_found)),
        );
        let (metrics, dashboard) = (self.metrics, self.dashboard);
        fallback::register(cfg, "", &move |path| {
            (metrics || path != "/metrics") && (dashboard || path != "/")
        });
    }
}

/// The routes every application has, flat (the default application) and
/// under `/v1/apps/{app}`. Handlers take a [`scope::Scope`], so the same
/// code serves both and only ever reaches the scope's records.
fn app_routes(cfg: &mut web::ServiceConfig) {
    publish_routes(cfg);
    other_app_routes(cfg);
}

/// Publishing, one event or a batch.
fn publish_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(events::publish).service(events::publish_batch);
}

/// [`app_routes`] but publishing.
fn other_app_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(events::get_one)
        .service(endpoints::read::list)
        .service(endpoints::write::create)
        .service(endpoints::read::stats)
        .service(deliveries::list)
        .service(endpoints::actions::pause)
        .service(endpoints::actions::resume)
        .service(endpoints::actions::test)
        .service(endpoints::actions::rotate)
        .service(endpoints::read::get_one)
        .service(endpoints::write::update)
        .service(endpoints::write::remove)
        .service(deliveries::get_one)
        .service(deliveries::retry)
        .service(transforms::test)
        .service(dead_letters::list)
        .service(dead_letters::replay)
        .service(dead_letters::purge);
}
