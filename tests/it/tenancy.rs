//! Applications (tenants): each application's endpoints, events,
//! deliveries and dead letters are its own; application tokens reach only
//! their application; the flat routes are the default application's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::utils::*;

const ADMIN: &str = "admin-token-0123456789";

/// An engine with an admin token, its API, and an admin client.
async fn start_secured() -> (hookbus::Hookbus, tempfile::TempDir, Api) {
    let (mut cfg, dir) = test_config();
    cfg.server.api_token = Some(ADMIN.into());
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let api = Api::new(serve_api(&hub)).with_token(ADMIN);
    (hub, dir, api)
}

async fn create_app(api: &Api, uid: &str, extra: Value) -> String {
    let mut body = json!({"uid": uid});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (s, app) = api.call("POST", "/v1/apps", Some(body)).await;
    assert_eq!(s, 201, "{app}");
    app["id"].as_str().unwrap().to_string()
}

async fn create_in(api: &Api, prefix: &str, body: Value) -> Value {
    let (s, ep) = api
        .call("POST", &format!("{prefix}/endpoints"), Some(body))
        .await;
    assert_eq!(s, 201, "{ep}");
    ep
}

#[actix_web::test]
async fn two_apps_with_identical_endpoints_each_receive_and_see_only_their_own() {
    let (hub, _dir, api) = start_secured().await;
    let (rx_a, rx_b, rx_d) = (
        TestReceiver::start(200),
        TestReceiver::start(200),
        TestReceiver::start(200),
    );
    let acme = create_app(&api, "acme", json!({"name": "Acme Inc."})).await;
    create_app(&api, "globex", json!({})).await;
    let spec = |url: &str| json!({"name": "billing", "url": url, "events": ["order.*"]});
    // The same name and patterns in three applications (by uid, by id, and flat).
    let ep_a = create_in(&api, "/v1/apps/acme", spec(&rx_a.url)).await;
    let ep_b = create_in(&api, "/v1/apps/globex", spec(&rx_b.url)).await;
    let ep_d = create_in(&api, "/v1", spec(&rx_d.url)).await;
    assert_ne!(ep_a["id"], ep_b["id"]);

    let (s, r) = api
        .call(
            "POST",
            &format!("/v1/apps/{acme}/events"),
            Some(json!({"type": "order.created", "data": {"n": 1}})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(r["deliveries"][0]["endpoint_id"], ep_a["id"]);
    let evt_a = r["id"].as_str().unwrap().to_string();
    let dlv_a = r["deliveries"][0]["id"].as_str().unwrap().to_string();
    let (s, r) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({"type": "order.created", "data": {"n": 2}})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["deliveries"][0]["endpoint_id"], ep_d["id"]);
    assert_eq!(
        rx_a.wait_for(1, Duration::from_secs(5)).await[0].json()["data"]["n"],
        1
    );
    assert_eq!(
        rx_d.wait_for(1, Duration::from_secs(5)).await[0].json()["data"]["n"],
        2
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((rx_a.count(), rx_b.count(), rx_d.count()), (1, 0, 1));

    // Every list and read is scoped; another application's ids are not found.
    let (_, list) = api.call("GET", "/v1/apps/acme/endpoints", None).await;
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids, [&ep_a["id"]]);
    let (_, list) = api.call("GET", "/v1/endpoints", None).await;
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(
        ids,
        [&ep_d["id"]],
        "the flat list is the default application's"
    );
    let a_id = ep_a["id"].as_str().unwrap();
    for (path, want) in [
        (format!("/v1/apps/acme/endpoints/{a_id}"), 200),
        (format!("/v1/apps/globex/endpoints/{a_id}"), 404),
        (format!("/v1/endpoints/{a_id}"), 404),
        (format!("/v1/apps/globex/endpoints/{a_id}/stats"), 404),
        (format!("/v1/apps/globex/endpoints/{a_id}/deliveries"), 404),
        (format!("/v1/apps/acme/events/{evt_a}"), 200),
        (format!("/v1/apps/globex/events/{evt_a}"), 404),
        (format!("/v1/events/{evt_a}"), 404),
        (format!("/v1/apps/acme/deliveries/{dlv_a}"), 200),
        (format!("/v1/apps/globex/deliveries/{dlv_a}"), 404),
        (format!("/v1/deliveries/{dlv_a}"), 404),
        ("/v1/apps/nobody/endpoints".to_string(), 404),
    ] {
        let (s, body) = api.call("GET", &path, None).await;
        assert_eq!(s, want, "GET {path}: {body}");
    }
    let (s, _) = api
        .call(
            "POST",
            &format!("/v1/apps/globex/deliveries/{dlv_a}/retry"),
            None,
        )
        .await;
    assert_eq!(s, 404, "another application's delivery cannot be retried");
    // By name, each application finds its own `billing`.
    let (_, stats) = api
        .call("GET", "/v1/apps/acme/endpoints/billing/stats", None)
        .await;
    assert_eq!(stats["endpoint_id"], ep_a["id"]);
    assert_eq!(stats["delivered"], 1);
    let (_, stats) = api
        .call("GET", "/v1/apps/globex/endpoints/billing/stats", None)
        .await;
    assert_eq!(stats["delivered"], 0);
    let (_, page) = api
        .call("GET", "/v1/apps/acme/endpoints/billing/deliveries", None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    // The same idempotency key in two applications: two events.
    let publish_keyed = |prefix: &'static str| {
        let api = &api;
        async move {
            let (s, r) = api
                .call(
                    "POST",
                    &format!("{prefix}/events"),
                    Some(json!({"type": "order.paid", "data": {}, "idempotency_key": "k-1"})),
                )
                .await;
            assert_eq!(s, 202, "{r}");
            r["id"].as_str().unwrap().to_string()
        }
    };
    let first = publish_keyed("/v1/apps/acme").await;
    let other = publish_keyed("/v1/apps/globex").await;
    assert_ne!(first, other);
    assert_eq!(
        publish_keyed("/v1/apps/acme").await,
        first,
        "a repeat in the same app answers the first"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn dead_letters_are_listed_replayed_and_purged_per_application() {
    let (hub, _dir, api) = start_secured().await;
    let rx = TestReceiver::start(500);
    create_app(&api, "acme", json!({})).await;
    create_app(&api, "globex", json!({})).await;
    let mut spec = json!({"name": "flaky", "url": rx.url, "events": ["job.*"],
        "retry": {"max_attempts": 1}});
    create_in(&api, "/v1/apps/acme", spec.clone()).await;
    spec["name"] = json!("other");
    create_in(&api, "/v1/apps/globex", spec).await;
    let (_, r) = api
        .call(
            "POST",
            "/v1/apps/acme/events",
            Some(json!({"type": "job.failed", "data": {}})),
        )
        .await;
    let dlv = r["deliveries"][0]["id"].as_str().unwrap().to_string();
    wait_dead_letter(&hub, &dlv, 10).await;
    let count = |path: &'static str| {
        let api = &api;
        async move {
            let (s, page) = api.call("GET", path, None).await;
            assert_eq!(s, 200, "{page}");
            page["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("/v1/apps/acme/dead-letters").await, 1);
    assert_eq!(count("/v1/apps/globex/dead-letters").await, 0);
    assert_eq!(count("/v1/dead-letters").await, 0);
    // Another application's replay and purge do not see it, even by id.
    let (_, out) = api
        .call(
            "POST",
            "/v1/apps/globex/dead-letters/replay",
            Some(json!({"ids": [dlv]})),
        )
        .await;
    assert_eq!(out["count"], 0, "{out}");
    let (_, out) = api
        .call("DELETE", "/v1/apps/globex/dead-letters", None)
        .await;
    assert_eq!(out["count"], 0, "{out}");
    let (_, out) = api
        .call(
            "POST",
            "/v1/apps/acme/dead-letters/replay",
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(out["count"], 1, "{out}");
    assert_eq!(count("/v1/apps/acme/dead-letters").await, 1);
    hub.shutdown().await;
}

#[actix_web::test]
async fn an_app_token_reaches_only_its_own_application() {
    let (hub, _dir, admin) = start_secured().await;
    let acme = create_app(&admin, "acme", json!({})).await;
    let globex = create_app(&admin, "globex", json!({})).await;
    let (s, made) = admin
        .call(
            "POST",
            "/v1/apps/acme/tokens",
            Some(json!({"name": "portal"})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hbk_"));
    // A body that is not an object creates nothing (serde would read an
    // array as the struct's fields in order: `[]` as a token body with
    // every field defaulted, `["initech"]` as an application `initech`).
    for (path, body) in [
        ("/v1/apps/acme/tokens", json!([])),
        ("/v1/apps/acme/tokens", json!(["portal"])),
        ("/v1/apps", json!(["initech"])),
        ("/v1/event-types", json!(["order.created"])),
    ] {
        let (s, problem) = admin.call("POST", path, Some(body)).await;
        assert_eq!(s, 422, "{path}: {problem}");
        assert_eq!(problem["errors"][0]["msg"], "must be a JSON object");
    }
    let (s, _) = admin.call("GET", "/v1/apps/initech", None).await;
    assert_eq!(s, 404);
    // Listed without the secret; stored only as its hash.
    let (_, list) = admin.call("GET", "/v1/apps/acme/tokens", None).await;
    assert_eq!(list["data"][0]["id"], made["id"]);
    assert!(list["data"][0].get("token").is_none(), "{list}");
    let stored = hub.store().tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains(&token[4..])
    );

    let portal = admin.with_token(&token);
    let rx = TestReceiver::start(200);
    for (method, path, body, want) in [
        (
            "POST",
            "/v1/apps/acme/endpoints".to_string(),
            Some(json!({"name": "hooks", "url": rx.url})),
            201,
        ),
        ("GET", "/v1/apps/acme/endpoints".to_string(), None, 200),
        ("GET", format!("/v1/apps/{acme}/endpoints/hooks"), None, 200),
        (
            "POST",
            "/v1/apps/acme/events".to_string(),
            Some(json!({"type": "a.b", "data": {}})),
            202,
        ),
        ("GET", "/v1/apps/acme".to_string(), None, 200),
        ("GET", "/v1/event-types".to_string(), None, 200),
        // Another application: as if it did not exist.
        ("GET", "/v1/apps/globex/endpoints".to_string(), None, 404),
        ("GET", format!("/v1/apps/{globex}/endpoints"), None, 404),
        (
            "POST",
            "/v1/apps/globex/events".to_string(),
            Some(json!({"type": "a.b", "data": {}})),
            404,
        ),
        ("GET", "/v1/apps/globex".to_string(), None, 404),
        ("GET", "/v1/apps/globex/tokens".to_string(), None, 404),
        // Admin routes and the flat (default application's) routes.
        ("GET", "/v1/endpoints".to_string(), None, 403),
        (
            "POST",
            "/v1/events".to_string(),
            Some(json!({"type": "a.b", "data": {}})),
            403,
        ),
        ("GET", "/v1/apps".to_string(), None, 403),
        (
            "POST",
            "/v1/apps".to_string(),
            Some(json!({"uid": "mine"})),
            403,
        ),
        (
            "PATCH",
            "/v1/apps/acme".to_string(),
            Some(json!({"name": "x"})),
            403,
        ),
        ("DELETE", "/v1/apps/acme".to_string(), None, 403),
        (
            "POST",
            "/v1/apps/acme/tokens".to_string(),
            Some(json!({})),
            403,
        ),
        ("GET", "/v1/apps/acme/tokens".to_string(), None, 403),
        (
            "POST",
            "/v1/event-types".to_string(),
            Some(json!({"name": "a.b"})),
            403,
        ),
        ("GET", "/v1/dead-letters".to_string(), None, 403),
    ] {
        let (s, b) = portal.call(method, &path, body).await;
        assert_eq!(s, want, "{method} {path}: {b}");
    }
    rx.wait_for(1, Duration::from_secs(5)).await;
    // A wrong token is 401; a revoked one stops working at once.
    let (s, _) = admin
        .with_token("hbk_nope")
        .call("GET", "/v1/apps/acme/endpoints", None)
        .await;
    assert_eq!(s, 401);
    let tok_id = made["id"].as_str().unwrap();
    let (s, _) = admin
        .call("DELETE", &format!("/v1/apps/acme/tokens/{tok_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = portal.call("GET", "/v1/apps/acme/endpoints", None).await;
    assert_eq!(s, 401);
    hub.shutdown().await;
}

#[actix_web::test]
async fn deleting_an_app_removes_its_endpoints_tokens_and_pending_deliveries() {
    let (hub, _dir, api) = start_secured().await;
    let rx = TestReceiver::start(503);
    create_app(&api, "acme", json!({})).await;
    let (_, tok) = api.call("POST", "/v1/apps/acme/tokens", None).await;
    create_in(
        &api,
        "/v1/apps/acme",
        json!({"name": "slow", "url": rx.url, "retry": {"initial_delay": "2s", "jitter": "none"}}),
    )
    .await;
    let (_, r) = api
        .call(
            "POST",
            "/v1/apps/acme/events",
            Some(json!({"type": "a.b", "data": {}})),
        )
        .await;
    let dlv = r["deliveries"][0]["id"].as_str().unwrap().to_string();
    rx.wait_for(1, Duration::from_secs(5)).await;
    let (s, body) = api.call("DELETE", "/v1/apps/acme", None).await;
    assert_eq!(s, 204, "{body}");
    // Nothing more is sent: the delivery ended with its endpoint.
    let sent = rx.count();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.count(), sent);
    let d = hub.store().delivery(&dlv).unwrap().unwrap();
    assert_eq!(d.last_error.as_deref(), Some("endpoint deleted"));
    assert!(hub.store().endpoints().unwrap().is_empty());
    for path in ["/v1/apps/acme", "/v1/apps/acme/endpoints"] {
        let (s, _) = api.call("GET", path, None).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = api
        .with_token(tok["token"].as_str().unwrap())
        .call("GET", "/v1/apps/acme/endpoints", None)
        .await;
    assert_eq!(s, 401, "its tokens are revoked");
    assert!(hub.store().tokens().unwrap().is_empty());
    // The uid is free again; the default application cannot be deleted.
    create_app(&api, "acme", json!({})).await;
    let (s, _) = api.call("DELETE", "/v1/apps/default", None).await;
    assert_eq!(s, 409);
    hub.shutdown().await;
}

#[actix_web::test]
async fn an_apps_rate_limit_pushes_back_only_its_own_publishes() {
    let (hub, _dir, api) = start_secured().await;
    create_app(
        &api,
        "noisy",
        json!({"rate_limit": {"per_second": 0.5, "burst": 2}}),
    )
    .await;
    create_app(&api, "calm", json!({})).await;
    let publish = |prefix: &'static str| {
        let api = &api;
        async move {
            api.call(
                "POST",
                &format!("{prefix}/events"),
                Some(json!({"type": "a.b", "data": {}})),
            )
            .await
            .0
        }
    };
    assert_eq!(publish("/v1/apps/noisy").await, 202);
    assert_eq!(publish("/v1/apps/noisy").await, 202);
    // The third within the burst window: 429 with Retry-After.
    let resp = awc::Client::new()
        .post(format!("{}/v1/apps/noisy/events", api.base()))
        .bearer_auth(ADMIN)
        .send_json(&json!({"type": "a.b", "data": {}}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    for _ in 0..5 {
        assert_eq!(publish("/v1/apps/calm").await, 202);
    }
    assert_eq!(publish("/v1").await, 202);
    hub.shutdown().await;
}

#[actix_web::test]
async fn endpoints_without_a_retry_policy_take_their_apps_default() {
    let (hub, _dir, api) = start_secured().await;
    create_app(
        &api,
        "acme",
        json!({"retry": {"max_attempts": 3, "initial_delay": "1s"}}),
    )
    .await;
    let rx = TestReceiver::start(200);
    let plain = create_in(&api, "/v1/apps/acme", json!({"name": "a", "url": rx.url})).await;
    assert_eq!(plain["retry"]["max_attempts"], 3);
    let own = create_in(
        &api,
        "/v1/apps/acme",
        json!({"name": "b", "url": rx.url, "retry": {"max_attempts": 5}}),
    )
    .await;
    assert_eq!(own["retry"]["max_attempts"], 5);
    let flat = create_in(&api, "/v1", json!({"name": "a", "url": rx.url})).await;
    assert_eq!(
        flat["retry"]["max_attempts"], 8,
        "the default application keeps the built-in default"
    );
    // The uid is fixed; other fields change with a merge patch.
    let (s, body) = api
        .call("PATCH", "/v1/apps/acme", Some(json!({"uid": "other"})))
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = api
        .call("PATCH", "/v1/apps/acme", Some(json!({"name": "Acme"})))
        .await;
    assert_eq!((s, body["name"].clone()), (200, json!("Acme")));
    hub.shutdown().await;
}

#[actix_web::test]
async fn apps_tokens_and_their_endpoints_survive_a_restart() {
    let (mut cfg, dir) = test_config();
    cfg.server.api_token = Some(ADMIN.into());
    let rx = TestReceiver::start(200);
    let token;
    {
        // Through the library: a served API would keep the store open.
        let hub = hookbus::Hookbus::start(cfg.clone()).await.unwrap();
        hub.create_app(hookbus::model::app::AppSpec::new("acme"))
            .await
            .unwrap();
        let app = hub.app("acme").unwrap();
        token = hub
            .directory()
            .create_token(app.id(), "portal".into())
            .await
            .unwrap()
            .token;
        let mut spec = endpoint("a", &rx.url, &["x.*"]);
        spec.filter = Some(hookbus::model::filter::FilterSpec(
            json!({"path": "/data/keep", "op": "eq", "value": true}),
        ));
        app.create_endpoint(spec).await.unwrap();
        hub.shutdown().await;
    }
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let portal = Api::new(serve_api(&hub)).with_token(&token);
    for (keep, deliveries) in [(true, 1), (false, 0)] {
        let (s, r) = portal
            .call(
                "POST",
                "/v1/apps/acme/events",
                Some(json!({"type": "x.y", "data": {"keep": keep}})),
            )
            .await;
        assert_eq!(s, 202, "{r}");
        assert_eq!(
            r["deliveries"].as_array().unwrap().len(),
            deliveries,
            "the filter survived: {r}"
        );
    }
    rx.wait_for(1, Duration::from_secs(5)).await;
    let app = hub.app("acme").unwrap();
    assert_eq!(app.endpoints().await.unwrap().len(), 1);
    assert!(
        hub.endpoints().await.unwrap().is_empty(),
        "not the default application's"
    );
    hub.shutdown().await;
    drop(dir);
}

#[actix_web::test]
async fn scoped_routes_are_documented_and_wrong_methods_answer_405() {
    let (hub, _dir, api) = start_with_api().await;
    create_app(&api, "acme", json!({})).await;
    for (path, allow) in [
        ("/v1/apps/acme/endpoints/x", "GET, PATCH, DELETE"),
        ("/v1/apps/acme/events", "POST"),
        ("/v1/apps/acme", "GET, PATCH, DELETE"),
        ("/v1/apps/acme/tokens", "GET, POST"),
        ("/v1/apps", "GET, POST"),
        ("/v1/event-types/a.b", "GET, PATCH, DELETE"),
    ] {
        let resp = awc::Client::new()
            .request(awc::http::Method::PUT, format!("{}{path}", api.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "PUT {path}");
        assert_eq!(
            resp.headers().get("allow").unwrap().to_str().unwrap(),
            allow,
            "PUT {path}"
        );
    }
    let (s, p) = api.call("GET", "/v1/apps/acme/no-such-thing", None).await;
    assert_eq!((s, p["code"].clone()), (404, json!("not_found")));
    let (_, doc) = api.call("GET", "/openapi.json", None).await;
    let op = &doc["paths"]["/v1/apps/{app}/endpoints/{id}"]["get"];
    assert_eq!(op["parameters"][0]["name"], "app", "{op}");
    assert!(op["responses"]["404"].is_object());
    let mut ids = std::collections::HashSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }
    for path in [
        "/v1/apps",
        "/v1/apps/{app}/tokens",
        "/v1/event-types/{name}",
        "/v1/apps/{app}/dead-letters/replay",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    hub.shutdown().await;
}
