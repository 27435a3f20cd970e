//! The event-type catalogue: JSON Schemas checked at publish (violations
//! listed by JSON pointer), unknown types refused when required,
//! deprecated types accepted with a warning, the catalogue in OpenAPI.

use serde_json::{Value, json};

use crate::utils::*;

async fn start(require_known: bool) -> (hookbus::Hookbus, tempfile::TempDir, Api) {
    let (mut cfg, dir) = test_config();
    cfg.events.require_known_types = require_known;
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let api = Api::new(serve_api(&hub));
    (hub, dir, api)
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "amount"],
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": "number", "minimum": 0},
            "items": {"type": "array", "items": {"type": "string"}}
        }
    })
}

async fn add_type(api: &Api, body: Value) -> (u16, Value) {
    api.call("POST", "/v1/event-types", Some(body)).await
}

#[actix_web::test]
async fn schema_violations_are_refused_with_the_json_pointer_of_each() {
    let (hub, _dir, api) = start(false).await;
    let (s, t) = add_type(
        &api,
        json!({"name": "order.created", "description": "An order was placed", "schema": order_schema(),
               "example": {"id": 1, "amount": 9.5}}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let publish = |data: Value| {
        let api = &api;
        async move {
            api.call(
                "POST",
                "/v1/events",
                Some(json!({"type": "order.created", "data": data})),
            )
            .await
        }
    };
    let (s, p) = publish(json!({"amount": -1, "items": ["a", 2]})).await;
    assert_eq!(s, 422, "{p}");
    let got = error_locs(&p);
    for want in ["/data", "/data/amount", "/data/items/1"] {
        assert!(got.contains(&want.to_string()), "{want} in {got:?}");
    }
    let (s, p) = publish(json!({"id": 7, "amount": 3})).await;
    assert_eq!(s, 202, "{p}");
    // In a batch, pointers say which event.
    let (s, p) = api
        .call(
            "POST",
            "/v1/events/batch",
            Some(json!({"events": [
                {"type": "order.created", "data": {"id": 1, "amount": 1}},
                {"type": "order.created", "data": {"id": "x", "amount": 1}}
            ]})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(error_locs(&p), ["/events/1/data/id"]);
    // Nothing of a refused batch was accepted.
    let (_, list) = api.call("GET", "/v1/dead-letters", None).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    // Types outside the catalogue pass when it is not required.
    let (s, _) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({"type": "other.thing", "data": 1})),
        )
        .await;
    assert_eq!(s, 202);
    hub.shutdown().await;
}

#[actix_web::test]
async fn an_unknown_type_is_refused_when_known_types_are_required() {
    let (hub, _dir, api) = start(true).await;
    add_type(&api, json!({"name": "order.created"})).await;
    let (s, _) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({"type": "order.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 202);
    let (s, p) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({"type": "order.shipped", "data": {}})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(error_locs(&p), ["type"]);
    assert!(
        p["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("catalogue"),
        "{p}"
    );
    let (s, p) = api
        .call(
            "POST",
            "/v1/events/batch",
            Some(json!({"events": [{"type": "order.created", "data": {}}, {"type": "nope", "data": {}}]})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(error_locs(&p), ["events[1].type"]);
    // In-process publishes are held to the same catalogue.
    let e = hub
        .publish(hookbus::PublishRequest::new("order.shipped", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(e, hookbus::BusError::Invalid(_)), "{e}");
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_deprecated_type_is_accepted_with_a_warning_header() {
    let (hub, _dir, api) = start(true).await;
    add_type(&api, json!({"name": "order.old"})).await;
    let (s, t) = api
        .call(
            "PATCH",
            "/v1/event-types/order.old",
            Some(json!({"deprecated": true})),
        )
        .await;
    assert_eq!((s, t["deprecated"].clone()), (200, json!(true)), "{t}");
    let resp = awc::Client::new()
        .post(format!("{}/v1/events", api.base()))
        .send_json(&json!({"type": "order.old", "data": {}}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let warning = resp
        .headers()
        .get("warning")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        warning.starts_with("299 ")
            && warning.contains("order.old")
            && warning.contains("deprecated"),
        "{warning}"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn the_catalogue_is_managed_checked_and_published_in_the_openapi_document() {
    let (hub, _dir, api) = start(false).await;
    // Refused at create: a schema that does not compile, an example that fails
    // it, a remote reference (never fetched), a reserved or malformed name.
    for (body, loc) in [
        (
            json!({"name": "a.b", "schema": {"type": "nonsense"}}),
            "schema",
        ),
        (
            json!({"name": "a.b", "schema": {"$ref": "https://example.com/s.json"}}),
            "schema",
        ),
        (
            json!({"name": "a.b", "schema": order_schema(), "example": {"id": "x", "amount": 1}}),
            "example/id",
        ),
        (json!({"name": "hookbus.test"}), "name"),
        (json!({"name": "a..b"}), "name"),
    ] {
        let (s, p) = add_type(&api, body.clone()).await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(error_locs(&p)[0], loc, "{body}: {p}");
    }
    let (s, _) = add_type(
        &api,
        json!({"name": "order.created", "schema": order_schema()}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = add_type(&api, json!({"name": "order.created"})).await;
    assert_eq!(s, 409);
    let (s, p) = api
        .call(
            "PATCH",
            "/v1/event-types/order.created",
            Some(json!({"name": "order.renamed"})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let (_, list) = api.call("GET", "/v1/event-types", None).await;
    assert_eq!(list["data"][0]["name"], "order.created");
    let (_, doc) = api.call("GET", "/openapi.json", None).await;
    let hook = &doc["webhooks"]["order.created"]["post"];
    assert_eq!(
        hook["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"],
        order_schema(),
        "{hook}"
    );
    let (s, _) = api
        .call("DELETE", "/v1/event-types/order.created", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = api.call("GET", "/v1/event-types/order.created", None).await;
    assert_eq!(s, 404);
    hub.shutdown().await;
}

#[actix_web::test]
async fn the_catalogue_is_kept_across_a_restart() {
    let (hub, dir) = start_hookbus(vec![]).await;
    let spec: hookbus::model::event_type::EventTypeSpec =
        serde_json::from_value(json!({"name": "kept.type", "schema": {"type": "object"}})).unwrap();
    hub.directory().create_event_type(spec).await.unwrap();
    let cfg = hub.config().clone();
    hub.shutdown().await;
    drop(hub);
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    assert!(hub.directory().event_type("kept.type").is_some());
    let e = hub
        .publish(hookbus::PublishRequest::new("kept.type", json!(3)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/data"), "{e}");
    hub.shutdown().await;
    drop(dir);
}
