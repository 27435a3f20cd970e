//! The management API: endpoint CRUD, pause/resume, test sends, secret rotation,
//! deliveries, events.

use std::time::Duration;

use serde_json::{Value, json};

use crate::utils::*;

fn fast_retry() -> Value {
    json!({"strategy": "fixed", "initial_delay": "50ms", "jitter": "none", "max_attempts": 3})
}

#[actix_web::test]
async fn create_shows_secrets_once_and_reads_redact_them() {
    let (hub, _dir, api) = start_with_api().await;
    let (s, created) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(
                json!({"name": "orders", "url": "http://127.0.0.1:9/h", "events": ["order.*"],
            "auth": {"type": "bearer", "token": "t0ken"}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert!(
        created["signing"]["secrets"][0]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(created["auth"]["token"], "t0ken");
    let id = created["id"].as_str().unwrap().to_string();
    for path in [
        format!("/v1/endpoints/{id}"),
        "/v1/endpoints/orders".to_string(),
    ] {
        let (s, got) = api.call("GET", &path, None).await;
        assert_eq!(s, 200);
        assert_eq!(got["signing"]["secrets"][0], "***");
        assert_eq!(got["auth"]["token"], "***");
    }
    let (s, dup) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "orders", "url": "http://127.0.0.1:9/x"})),
        )
        .await;
    assert_eq!((s, dup["code"].as_str()), (409, Some("conflict")));
    hub.shutdown().await;
}

#[actix_web::test]
async fn invalid_endpoints_get_422_with_field_paths() {
    let (hub, _dir, api) = start_with_api().await;
    let (s, body) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(
                json!({"name": "bad", "url": "ftp://x", "events": ["a.**.b"], "max_in_flight": 0}),
            ),
        )
        .await;
    assert_eq!(s, 422);
    let locs = error_locs(&body);
    assert_eq!(locs, ["url", "events[0]", "max_in_flight"]);
    let (s, body) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "script", "url": "http://127.0.0.1:9/",
            "transform": {"script": "fn transform(e) {\n  e.\n}"}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["errors"][0]["loc"], "transform.script");
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("endpoint `script` (inline script), line 3, column"),
        "{body}"
    );
    let (s, body) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "x", "url": "http://h/", "retries": 3})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(body["detail"].as_str().unwrap().contains("retries"));
    let (s, _) = api.call("GET", "/v1/endpoints/nope", None).await;
    assert_eq!(s, 404);
    hub.shutdown().await;
}

#[actix_web::test]
async fn patch_updates_renames_and_keeps_redacted_secrets() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    let (_, created) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "a", "url": "http://127.0.0.1:9/", "events": ["x.*"]})),
        )
        .await;
    let secret = created["signing"]["secrets"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (_, read) = api.call("GET", "/v1/endpoints/a", None).await;
    // Echo the whole redacted read back with changes, as a UI would.
    let mut patch = read.clone();
    patch["url"] = json!(rx.url);
    patch["name"] = json!("renamed");
    patch["events"] = json!(["y.*"]);
    let (s, updated) = api.call("PATCH", "/v1/endpoints/a", Some(patch)).await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(
        hub.endpoints().await.unwrap()[0].spec.signing.secrets[0],
        secret,
        "*** means unchanged"
    );
    let (s, _) = api.call("GET", "/v1/endpoints/a", None).await;
    assert_eq!(s, 404, "the old name is gone");
    hub.publish(hookbus::PublishRequest::new("y.z", json!({})))
        .await
        .unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    let (s, body) = api
        .call(
            "PATCH",
            "/v1/endpoints/renamed",
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, _) = api
        .call(
            "PATCH",
            "/v1/endpoints/renamed",
            Some(json!({"events": ["!!"]})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, b) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "b", "url": "http://127.0.0.1:9/"})),
        )
        .await;
    assert!(b["id"].is_string());
    let (s, _) = api
        .call("PATCH", "/v1/endpoints/b", Some(json!({"name": "renamed"})))
        .await;
    assert_eq!(s, 409);
    hub.shutdown().await;
}

#[actix_web::test]
async fn delete_removes_the_endpoint_and_pause_resume_gate_deliveries() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    api.call(
        "POST",
        "/v1/endpoints",
        Some(json!({"name": "p", "url": rx.url, "retry": fast_retry()})),
    )
    .await;
    let (s, paused) = api.call("POST", "/v1/endpoints/p/pause", None).await;
    assert_eq!((s, paused["status"].as_str()), (200, Some("paused")));
    hub.publish(hookbus::PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0, "paused endpoints send nothing");
    let (_, stats) = api.call("GET", "/v1/endpoints/p/stats", None).await;
    assert_eq!(stats["queue_depth"], 1);
    api.call("POST", "/v1/endpoints/p/resume", None).await;
    rx.wait_for(1, Duration::from_secs(5)).await;
    let (s, _) = api.call("DELETE", "/v1/endpoints/p", None).await;
    assert_eq!(s, 204);
    let (s, _) = api.call("GET", "/v1/endpoints/p", None).await;
    assert_eq!(s, 404);
    let r = hub
        .publish(hookbus::PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    assert!(r.deliveries.is_empty());
    let (s, _) = api.call("DELETE", "/v1/endpoints/p", None).await;
    assert_eq!(s, 404);
    hub.shutdown().await;
}

#[actix_web::test]
async fn deleting_an_endpoint_mid_retries_ends_every_delivery_and_leaves_no_queue_row() {
    // Outcomes arrive all the time (a refusing receiver, fast retries), so
    // some are still buffered by the actor when the deletion comes: they
    // must not put a queue row or a retry state back after it.
    let rx = TestReceiver::start(503);
    let (hub, _dir, api) = start_with_api().await;
    let retry = json!({"strategy": "fixed", "initial_delay": "10ms", "jitter": "none", "max_attempts": 100});
    let (s, ep) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(
                json!({"name": "busy", "url": rx.url, "retry": retry, "max_in_flight": 16,
                "circuit_breaker": {"failure_threshold": 100000}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{ep}");
    let endpoint_id = ep["id"].as_str().unwrap().to_string();
    let mut deliveries = Vec::new();
    for _ in 0..40 {
        let r = hub
            .publish(hookbus::PublishRequest::new("a.b", json!({})))
            .await
            .unwrap();
        deliveries.push(r.deliveries[0].id.clone());
    }
    rx.wait_for(200, Duration::from_secs(20)).await;
    let (s, body) = api.call("DELETE", "/v1/endpoints/busy", None).await;
    assert_eq!(s, 204, "{body}");
    let sent = rx.count();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.count(), sent, "nothing is sent after the deletion");
    let store = hub.store();
    assert_eq!(
        store.queue_page(&endpoint_id, None, usize::MAX).unwrap(),
        vec![],
        "no queue row outlives its endpoint"
    );
    for id in &deliveries {
        let d = store.delivery(id).unwrap().unwrap();
        assert_eq!(
            (d.status, d.last_error.as_deref()),
            (
                hookbus::store::records::DeliveryStatus::Dead,
                Some("endpoint deleted")
            ),
            "{id}"
        );
    }
    hub.shutdown().await;
}

#[actix_web::test]
async fn test_send_returns_the_attempt() {
    let rx = TestReceiver::start(202);
    let (hub, _dir, api) = start_with_api().await;
    api.call(
        "POST",
        "/v1/endpoints",
        Some(json!({"name": "t", "url": rx.url})),
    )
    .await;
    let (s, attempt) = api.call("POST", "/v1/endpoints/t/test", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            attempt["success"].as_bool(),
            attempt["status_code"].as_u64()
        ),
        (Some(true), Some(202))
    );
    assert_eq!(attempt["response_body"], "reply 202");
    let got = rx.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(got[0].header("x-webhook-event"), Some("hookbus.test"));
    assert!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    rx.set_default(Reply::status(500));
    let (_, attempt) = api.call("POST", "/v1/endpoints/t/test", None).await;
    assert_eq!(
        (
            attempt["success"].as_bool(),
            attempt["status_code"].as_u64()
        ),
        (Some(false), Some(500))
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn rotation_signs_with_both_secrets_during_grace_then_only_the_new() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    let (_, created) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(json!({"name": "r", "url": rx.url})),
        )
        .await;
    let old = created["signing"]["secrets"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (s, rotated) = api
        .call(
            "POST",
            "/v1/endpoints/r/rotate-secret",
            Some(json!({"grace": "1s"})),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    hub.publish(hookbus::PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    assert!(got[0].signed_by(&old) && got[0].signed_by(&new));
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    hub.publish(hookbus::PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(
        got[1]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(got[1].signed_by(&new) && !got[1].signed_by(&old));
    hub.shutdown().await;
}

#[actix_web::test]
async fn deliveries_list_filter_page_get_and_retry() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    api.call(
        "POST",
        "/v1/endpoints",
        Some(json!({"name": "d", "url": rx.url, "retry": fast_retry()})),
    )
    .await;
    rx.script(vec![Reply::status(422)]);
    let first = hub
        .publish(hookbus::PublishRequest::new("a.b", json!({"n": 0})))
        .await
        .unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    for n in 1..4 {
        hub.publish(hookbus::PublishRequest::new("a.b", json!({ "n": n })))
            .await
            .unwrap();
    }
    rx.wait_for(4, Duration::from_secs(5)).await;
    let dead_id = first.deliveries[0].id.clone();
    assert!(
        eventually(Duration::from_secs(2), || hub
            .store()
            .dead_letter(&dead_id)
            .unwrap()
            .is_some())
        .await
    );
    let (_, page) = api
        .call("GET", "/v1/endpoints/d/deliveries?limit=2", None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = api
        .call(
            "GET",
            &format!("/v1/endpoints/d/deliveries?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 2);
    assert_eq!(page2["next_cursor"], Value::Null);
    let (_, dead) = api
        .call("GET", "/v1/endpoints/d/deliveries?status=dead", None)
        .await;
    assert_eq!(dead["data"].as_array().unwrap().len(), 1);
    assert_eq!(dead["data"][0]["id"], dead_id);
    let (s, one) = api
        .call("GET", &format!("/v1/deliveries/{dead_id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["attempt_history"][0]["status_code"], 422);
    assert_eq!(one["attempt_history"][0]["response_body"], "reply 422");
    let (_, event) = api
        .call("GET", &format!("/v1/events/{}", first.id), None)
        .await;
    assert_eq!(event["type"], "a.b");
    assert_eq!(event["deliveries"][0]["status"], "dead");
    let (s, _) = api
        .call("POST", &format!("/v1/deliveries/{dead_id}/retry"), None)
        .await;
    assert_eq!(s, 202);
    rx.wait_for(5, Duration::from_secs(5)).await;
    assert!(
        eventually(Duration::from_secs(2), || {
            hub.store().delivery(&dead_id).unwrap().unwrap().status
                == hookbus::store::records::DeliveryStatus::Delivered
        })
        .await
    );
    assert!(hub.store().dead_letter(&dead_id).unwrap().is_none());
    let (_, dl) = api.call("GET", "/v1/dead-letters", None).await;
    assert!(dl["data"].as_array().unwrap().is_empty());
    let (s, _) = api.call("GET", "/v1/deliveries/dlv_nope", None).await;
    assert_eq!(s, 404);
    let (s, _) = api.call("GET", "/v1/events/evt_nope", None).await;
    assert_eq!(s, 404);
    hub.shutdown().await;
}

#[actix_web::test]
async fn dead_letters_list_filters_and_purge() {
    let rx = TestReceiver::start(400);
    let (hub, _dir, api) = start_with_api().await;
    api.call(
        "POST",
        "/v1/endpoints",
        Some(json!({"name": "x", "url": rx.url})),
    )
    .await;
    api.call(
        "POST",
        "/v1/endpoints",
        Some(json!({"name": "y", "url": rx.url})),
    )
    .await;
    hub.publish(hookbus::PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    rx.wait_for(2, Duration::from_secs(5)).await;
    let mut all = Value::Null;
    for _ in 0..100 {
        all = api.call("GET", "/v1/dead-letters", None).await.1;
        if all["data"].as_array().is_some_and(|a| a.len() == 2) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    let (_, only_x) = api.call("GET", "/v1/dead-letters?endpoint=x", None).await;
    assert_eq!(only_x["data"].as_array().unwrap().len(), 1);
    let (_, future) = api
        .call("GET", "/v1/dead-letters?since=2999-01-01T00:00:00Z", None)
        .await;
    assert!(future["data"].as_array().unwrap().is_empty());
    let (s, bad) = api
        .call("GET", "/v1/dead-letters?since=yesterday", None)
        .await;
    assert_eq!(s, 422, "{bad}");
    let (s, purged) = api
        .call("DELETE", "/v1/dead-letters?endpoint=x", None)
        .await;
    assert_eq!((s, purged["count"].as_u64()), (200, Some(1)));
    let (_, left) = api.call("GET", "/v1/dead-letters", None).await;
    assert_eq!(left["data"].as_array().unwrap().len(), 1);
    let (_, stats) = api.call("GET", "/v1/endpoints/x/stats", None).await;
    assert_eq!(stats["dead_letters"], 0);
    hub.shutdown().await;
}

#[actix_web::test]
async fn every_v1_route_needs_the_token_when_one_is_set() {
    let (mut cfg, _dir) = test_config();
    cfg.server.api_token = Some("a-very-long-test-token".into());
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let api = Api::new(serve_api(&hub));
    for (m, p) in [
        ("GET", "/v1/endpoints"),
        ("POST", "/v1/endpoints"),
        ("GET", "/v1/dead-letters"),
        ("GET", "/v1/deliveries/x"),
    ] {
        let (s, body) = api.call(m, p, Some(json!({}))).await;
        assert_eq!(s, 401, "{m} {p}: {body}");
    }
    hub.shutdown().await;
}
