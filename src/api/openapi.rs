//! `GET /openapi.json`: the OpenAPI document, generated from the route and
//! type annotations (utoipa), so it cannot drift from the code.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    apps, dashboard, dead_letters, deliveries, endpoints, event_types, events, health, metrics,
    transforms,
};

/// The hookbus API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookbus",
        description = "Webhook delivery engine: publish events, manage endpoints, inspect deliveries and dead letters.",
        license(name = "Apache-2.0")
    ),
    paths(
        events::publish, events::publish_batch, events::get_one,
        endpoints::read::list, endpoints::write::create, endpoints::read::get_one,
        endpoints::write::update, endpoints::write::remove, endpoints::actions::pause,
        endpoints::actions::resume, endpoints::actions::test, endpoints::actions::rotate,
        endpoints::read::stats,
        deliveries::list, deliveries::get_one, deliveries::retry,
        dead_letters::list, dead_letters::replay, dead_letters::purge,
        transforms::test,
        apps::list, apps::create, apps::get_one, apps::update, apps::remove,
        apps::create_token, apps::list_tokens, apps::revoke_token,
        event_types::list, event_types::create, event_types::get_one, event_types::update,
        event_types::remove,
        health::healthz, health::readyz, metrics::metrics, dashboard::dashboard, openapi_json,
    ),
    components(schemas(deliveries::ListOrder)),
    modifiers(&BearerAuth, &OperationIds),
    tags(
        (name = "events", description = "Publishing and reading events"),
        (name = "endpoints", description = "Endpoints: CRUD, pause/resume, test, rotation, stats"),
        (name = "deliveries", description = "Deliveries and their attempts"),
        (name = "dead-letters", description = "The dead-letter queue"),
        (name = "transforms", description = "Script dry runs"),
        (name = "apps", description = "Applications (tenants) and their scoped API tokens"),
        (name = "event-types", description = "The event-type catalogue (JSON Schemas)"),
        (name = "health", description = "Health, metrics, dashboard"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme used by `/v1`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Operation ids unique across the document: `<method>_<path words>`
/// (handler names like `list` repeat across modules).
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let words: String = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("_");
            let words = if words.is_empty() {
                "root".to_string()
            } else {
                words
            };
            let ops = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
                ("put", &mut item.put),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    op.operation_id = Some(format!("{method}_{words}"));
                }
            }
        }
    }
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3 JSON", body = serde_json::Value)))]
#[get("/openapi.json")]
pub(super) async fn openapi_json(hub: actix_web::web::Data<crate::Hookbus>) -> HttpResponse {
    let generated = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut doc = super::openapi_doc::document(generated, hub.config());
    super::openapi_tenancy::webhooks(&mut doc, &hub.directory().event_types());
    HttpResponse::Ok().json(doc)
}

#[cfg(test)]
mod schema_tests {
    use utoipa::OpenApi;

    #[test]
    fn fields_left_out_when_false_are_not_required() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        let required = &doc["components"]["schemas"]["DeliveryView"]["required"];
        let required: Vec<&str> = required
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(required.contains(&"status"));
        assert!(!required.contains(&"test"), "{required:?}");
    }
}
