//! The publish API over HTTP: acknowledgements, validation, limits, idempotency, auth.

use std::time::Duration;

use serde_json::{Value, json};

use crate::utils::*;

async fn post(url: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut req = awc::Client::new()
        .post(url)
        .insert_header(("content-type", "application/json"));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut resp = req.send_body(body.to_string()).await.unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.body().limit(1 << 20).await.unwrap();
    (
        resp.status().as_u16(),
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn publish_answers_202_with_event_and_delivery_ids_and_delivers() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &["order.*"])]).await;
    let base = serve_api(&hub);
    let ep = endpoint_id(&hub, "a").await;
    let (status, _, body) = post(
        &format!("{base}/v1/events"),
        r#"{"type":"order.created","data":{"id":42},"metadata":{"source":"shop"}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"));
    assert_eq!(body["deliveries"][0]["endpoint_id"], ep);
    assert!(
        body["deliveries"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("dlv_")
    );
    // Durable before the 202: the event is readable right away.
    assert!(hub.store().event(id).unwrap().is_some());
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let delivered = got[0].json();
    assert_eq!(delivered["id"], id);
    assert_eq!(delivered["data"]["id"], 42);
    assert_eq!(delivered["metadata"]["source"], "shop");
    assert!(delivered["timestamp"].as_str().unwrap().ends_with('Z'));
    hub.shutdown().await;
}

/// A payload nothing reads is kept as text (event::RawPayload): the
/// receiver gets it as written, only the whitespace outside strings gone,
/// signed over those bytes; the stored event reads back the same.
#[actix_web::test]
async fn an_http_publish_delivers_its_payload_as_written_and_signed() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("a", &rx.url, &["order.*"]);
    spec.signing.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()];
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let base = serve_api(&hub);
    let published = r#"{
        "type": "order.created",
        "data": { "z": 1, "a": [ 2e3, 123456789012345678901234567890, "caf\u00e9 \"x\"" ],
                  "m": { } },
        "metadata": { "source": "shop" }
    }"#;
    let (status, _, body) = post(&format!("{base}/v1/events"), published, &[]).await;
    assert_eq!(status, 202, "{body}");
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let text = std::str::from_utf8(&got[0].body).unwrap();
    assert!(
        text.contains(r#","data":{"z":1,"a":[2e3,123456789012345678901234567890,"caf\u00e9 \"x\""],"m":{}},"metadata":{"source":"shop"}}"#),
        "{text}"
    );
    assert!(got[0].signed_by("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    let delivered = got[0].json();
    assert_eq!(delivered["data"]["a"][2], "café \"x\"");
    let stored = hub
        .store()
        .event(body["id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.event.data, delivered["data"]);
    hub.shutdown().await;
}

/// Deliveries beyond what an endpoint keeps in memory wait in the store and
/// are paged in; they send the same bytes as the ones handed over at once
/// (the payload as written, not re-serialised from a parsed tree, which would
/// turn `\u00e9` into `é` and change the signed bytes).
#[actix_web::test]
async fn deliveries_paged_from_the_store_send_the_payload_as_written() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("a", &rx.url, &["order.*"]);
    spec.signing.secrets = vec![SECRET.into()];
    spec.max_in_flight = 1;
    let (mut cfg, _dir) = test_config();
    cfg.delivery.queue_memory = 16;
    cfg.endpoints = vec![spec];
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    let data = r#"{"n":1.50,"s":"caf\u00e9 \"x\"","big":123456789012345678901234567890}"#;
    let events: Vec<String> = (0..60)
        .map(|i| format!(r#"{{"type":"order.created","data":{data},"metadata":{{"i":{i}}}}}"#))
        .collect();
    let batch = format!(r#"{{"events":[{}]}}"#, events.join(","));
    let (status, _, body) = post(&format!("{base}/v1/events/batch"), &batch, &[]).await;
    assert_eq!(status, 202, "{body}");
    let got = rx.wait_for(60, Duration::from_secs(20)).await;
    for (i, g) in got.iter().enumerate() {
        let text = std::str::from_utf8(&g.body).unwrap();
        let want = format!(r#","data":{data},"metadata":{{"i":{i}}}}}"#);
        assert!(text.ends_with(&want), "delivery {i}: {text}");
        assert!(g.signed_by(SECRET), "delivery {i}");
    }
    hub.shutdown().await;
}

#[actix_web::test]
async fn bad_publishes_get_problem_json_and_nothing_is_stored() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events");

    let (s, ct, body) = post(&url, r#"{"type": "a.b", "data": "#, &[]).await;
    assert_eq!((s, ct.as_str()), (400, "application/problem+json"));
    assert_eq!(body["status"], 400);
    assert_eq!(body["code"], "malformed_request");

    let (s, _, body) = post(&url, r#"{"type": "a..b", "id": "has space"}"#, &[]).await;
    assert_eq!(s, 422);
    let locs = error_locs(&body);
    assert_eq!(locs, ["type", "id"]);

    let (s, _, body) = post(&url, r#"{"type": "a.b", "colour": 1}"#, &[]).await;
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("colour"));

    let big = format!(r#"{{"type":"a.b","data":"{}"}}"#, "x".repeat(1 << 20));
    let (s, ct, body) = post(&url, &big, &[]).await;
    assert_eq!((s, ct.as_str()), (413, "application/problem+json"));
    assert_eq!(body["code"], "payload_too_large");
    hub.shutdown().await;
}

/// The per-event limit of a batch counts an event as its request's compact
/// JSON (the publisher's whitespace does not count): exactly the limit
/// passes, one byte more is refused by index, and nothing is stored.
#[actix_web::test]
async fn a_batch_event_over_max_event_bytes_is_named_and_nothing_is_stored() {
    let (mut cfg, _dir) = test_config();
    cfg.delivery.max_event_bytes = 1024;
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events/batch");
    // `{"type":"a.b","data":"y…","id":"eN"}` is 34 bytes plus the y's.
    let event = |n: usize, id: &str| {
        format!(
            r#"  {{ "type" : "a.b",  "data" : "{}", "id": "{id}" }}"#,
            "y".repeat(n)
        )
    };
    let batch = |a: String, b: String| format!(r#"{{"events": [{a}, {b}]}}"#);
    let (s, _, resp) = post(&url, &batch(event(10, "e1"), event(990, "e2")), &[]).await;
    assert_eq!(s, 202, "{resp}");
    let (s, _, resp) = post(&url, &batch(event(10, "e3"), event(991, "e4")), &[]).await;
    assert_eq!(s, 422, "{resp}");
    let locs = error_locs(&resp);
    assert_eq!(locs, ["events[1]"]);
    assert!(hub.store().event("e2").unwrap().is_some());
    assert!(
        hub.store().event("e3").unwrap().is_none(),
        "a refused batch stores nothing"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn batch_publish_commits_all_events_together() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let body = json!({"events": [{"type": "a.one"}, {"type": "a.two", "data": [1]}]}).to_string();
    let (s, _, resp) = post(&format!("{base}/v1/events/batch"), &body, &[]).await;
    assert_eq!(s, 202, "{resp}");
    assert_eq!(resp["events"].as_array().unwrap().len(), 2);
    rx.wait_for(2, Duration::from_secs(5)).await;

    let bad = json!({"events": [{"type": "ok"}, {"type": "no good"}]}).to_string();
    let (s, _, resp) = post(&format!("{base}/v1/events/batch"), &bad, &[]).await;
    assert_eq!(s, 422);
    assert_eq!(resp["errors"][0]["loc"], "events[1].type");
    hub.shutdown().await;
}

#[actix_web::test]
async fn idempotency_key_returns_the_first_answer_without_new_deliveries() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events");
    let (s1, _, first) = post(&url, r#"{"type":"a.b"}"#, &[("idempotency-key", "k-1")]).await;
    let (s2, _, second) = post(&url, r#"{"type":"a.b"}"#, &[("idempotency-key", "k-1")]).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second);
    let (_, _, third) = post(&url, r#"{"type":"a.b","idempotency_key":"k-2"}"#, &[]).await;
    assert_ne!(third["id"], first["id"]);
    rx.wait_for(2, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 2);
    // A caller-chosen id cannot be reused.
    let (s, _, _) = post(&url, r#"{"type":"a.b","id":"order-1"}"#, &[]).await;
    assert_eq!(s, 202);
    let (s, _, body) = post(&url, r#"{"type":"a.b","id":"order-1"}"#, &[]).await;
    assert_eq!(s, 409, "{body}");
    hub.shutdown().await;
}

#[actix_web::test]
async fn api_token_is_required_when_configured() {
    let (mut cfg, _dir) = test_config();
    cfg.server.api_token = Some("a-very-long-test-token".into());
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events");
    let (s, ct, _) = post(&url, r#"{"type":"a.b"}"#, &[]).await;
    assert_eq!((s, ct.as_str()), (401, "application/problem+json"));
    let (s, _, _) = post(
        &url,
        r#"{"type":"a.b"}"#,
        &[("authorization", "Bearer wrong-token-of-some-length")],
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = post(
        &url,
        r#"{"type":"a.b"}"#,
        &[("authorization", "Bearer a-very-long-test-token")],
    )
    .await;
    assert_eq!(s, 202);
    let mut resp = awc::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "health stays open");
    let _ = resp.body().await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn invalid_endpoints_are_rejected_with_every_reason() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let mut spec = endpoint("ok-name", "ftp://nope", &["a.**.b"]);
    spec.max_in_flight = 0;
    match hub.upsert_endpoint(spec).await {
        Err(hookbus::bus::BusError::Invalid(p)) => {
            let fields: Vec<_> = p.iter().map(|(f, _)| f.as_str()).collect();
            assert_eq!(fields, ["url", "events[0]", "max_in_flight"]);
        }
        other => panic!(
            "expected Invalid, got {:?}",
            other.map(|u| u.record.id.clone())
        ),
    }
    hub.shutdown().await;
}

#[actix_web::test]
async fn openapi_document_covers_every_route_and_validates() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    let mut resp = awc::Client::new()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().limit(4 << 20).await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("post", "/v1/events"),
        ("post", "/v1/events/batch"),
        ("get", "/v1/events/{id}"),
        ("get", "/v1/endpoints"),
        ("post", "/v1/endpoints"),
        ("get", "/v1/endpoints/{id}"),
        ("patch", "/v1/endpoints/{id}"),
        ("delete", "/v1/endpoints/{id}"),
        ("post", "/v1/endpoints/{id}/pause"),
        ("post", "/v1/endpoints/{id}/resume"),
        ("post", "/v1/endpoints/{id}/test"),
        ("post", "/v1/endpoints/{id}/rotate-secret"),
        ("get", "/v1/endpoints/{id}/stats"),
        ("get", "/v1/endpoints/{id}/deliveries"),
        ("get", "/v1/deliveries/{id}"),
        ("post", "/v1/deliveries/{id}/retry"),
        ("get", "/v1/dead-letters"),
        ("post", "/v1/dead-letters/replay"),
        ("delete", "/v1/dead-letters"),
        ("post", "/v1/transforms/test"),
        ("get", "/metrics"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from /openapi.json"
        );
    }
    // Every $ref resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("local schema refs only");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
    let file = _dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    match std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
    {
        Ok(out)
            if out.status.success()
                || !String::from_utf8_lossy(&out.stderr).contains("No module named") =>
        {
            assert!(
                out.status.success(),
                "openapi-spec-validator: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        _ => eprintln!("openapi-spec-validator not installed; structural checks only"),
    }
    hub.shutdown().await;
}
