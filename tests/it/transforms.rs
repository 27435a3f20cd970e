//! Transforms end to end: contracts, skipping, limits, compile errors, hot swap, replay, dry runs.

use std::time::{Duration, Instant};

use hookbus::PublishRequest;
use hookbus::bus::BusError;
use hookbus::bus::dead_letters::DeadLetterFilter;
use hookbus::endpoint::spec::{EndpointSpec, Format};
use hookbus::store::records::DeliveryStatus;
use hookbus::transform::TransformSpec;
use serde_json::{Value, json};

use crate::utils::*;

fn scripted(name: &str, url: &str, script: &str) -> EndpointSpec {
    let mut s = endpoint(name, url, &[]);
    s.transform = Some(TransformSpec::inline(script));
    s
}

fn order() -> PublishRequest {
    PublishRequest::new(
        "order.created",
        json!({"id": 42, "total": 250, "currency": "EUR", "customer": {"email": "a@b.c", "phone": "+1"}, "items": [1, 2]}),
    )
}

async fn status_of(hub: &hookbus::Hookbus, dlv: &str, want: DeliveryStatus) -> bool {
    eventually(Duration::from_secs(5), || {
        hub.store()
            .delivery(dlv)
            .unwrap()
            .is_some_and(|d| d.status == want)
    })
    .await
}

#[actix_web::test]
async fn transform_contract_reshapes_the_body_and_the_signature_covers_it() {
    let rx = TestReceiver::start(200);
    let script = r#"fn transform(event) { #{ order_id: event.data.id, email: event.data.customer.email, kind: event.type } }"#;
    let (hub, _dir) = start_hookbus(vec![scripted("t", &rx.url, script)]).await;
    hub.publish(order()).await.unwrap();
    let got = &rx.wait_for(1, Duration::from_secs(5)).await[0];
    assert_eq!(
        got.json(),
        json!({"order_id": 42, "email": "a@b.c", "kind": "order.created"})
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    let secret = &hub.endpoints().await.unwrap()[0].spec.signing.secrets[0];
    let sig = got.header("webhook-signature").unwrap();
    let ok = hookbus::sign::verify(
        hookbus::sign::Scheme::Standard,
        secret,
        got.header("webhook-id").unwrap(),
        got.header("webhook-timestamp").unwrap().parse().unwrap(),
        &got.body,
        sig,
    )
    .unwrap();
    assert!(ok, "signature is over the transformed bytes");
    hub.shutdown().await;
}

#[actix_web::test]
async fn handler_contract_changes_payload_and_headers_and_can_cancel() {
    let rx = TestReceiver::start(200);
    let redact = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/examples/redact.rhai"
    ))
    .unwrap();
    let cancel = r#"fn handler(webhook) { if webhook.payload.data.total < 100 { webhook.cancel = true; } webhook }"#;
    let (hub, _dir) = start_hookbus(vec![
        scripted("redact", &rx.url, &redact),
        scripted("cancel", &rx.url, cancel),
    ])
    .await;
    let r = hub
        .publish(PublishRequest::new(
            "order.created",
            json!({"total": 5, "customer": {"email": "x@y.z"}}),
        ))
        .await
        .unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["data"]["customer"]["email"], "[REDACTED]");
    assert_eq!(got[0].header("x-redacted"), Some("true"));
    let cancel_id = hub
        .endpoints()
        .await
        .unwrap()
        .iter()
        .find(|e| e.spec.name == "cancel")
        .unwrap()
        .id
        .clone();
    let dlv = r
        .deliveries
        .iter()
        .find(|d| d.endpoint_id == cancel_id)
        .unwrap()
        .id
        .clone();
    assert!(status_of(&hub, &dlv, DeliveryStatus::Filtered).await);
    assert!(
        hub.store().attempts(&dlv).unwrap().is_empty(),
        "a skipped delivery spends no attempt"
    );
    assert_eq!(rx.count(), 1);
    hub.shutdown().await;
}

#[actix_web::test]
async fn returning_unit_filters_and_strings_are_sent_as_text() {
    let rx = TestReceiver::start(200);
    let filter = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/examples/filter.rhai"
    ))
    .unwrap();
    let mut f = scripted("filter", &rx.url, &filter);
    f.transform
        .as_mut()
        .unwrap()
        .env
        .insert("MIN_TOTAL".into(), "300".into());
    let text = scripted(
        "text",
        &rx.url,
        r#"fn transform(e) { `order ${e.data.id} for ${e.data.total}` }"#,
    );
    let (hub, _dir) = start_hookbus(vec![f, text]).await;
    let r = hub.publish(order()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].body, b"order 42 for 250");
    assert_eq!(
        got[0].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let filter_id = endpoint_id(&hub, "filter").await;
    let dlv = r
        .deliveries
        .iter()
        .find(|d| d.endpoint_id == filter_id)
        .unwrap()
        .id
        .clone();
    assert!(
        status_of(&hub, &dlv, DeliveryStatus::Filtered).await,
        "250 < MIN_TOTAL 300 is skipped"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn every_limit_gives_a_clean_dead_letter_and_spares_other_endpoints() {
    let rx = TestReceiver::start(200);
    let bad = [
        (
            "loop",
            "fn transform(e) { let x = 0; loop { x += 1; } }",
            "too_many_operations",
        ),
        (
            "recursion",
            "fn deep(n) { deep(n + 1) } fn transform(e) { deep(0) }",
            "stack_overflow",
        ),
        (
            "string",
            r#"fn transform(e) { let s = "x"; loop { s += s; } }"#,
            "data_too_large",
        ),
        (
            "array",
            "fn transform(e) { let a = []; loop { a.push(1); } }",
            "data_too_large",
        ),
        (
            "map",
            "fn transform(e) { let m = #{a: 1, b: 2}; loop { m = #{l: m, r: m}; } }",
            "data_too_large",
        ),
        (
            "runtime",
            "fn transform(e) { e.data.nope.deeper }",
            "runtime",
        ),
    ];
    let mut specs: Vec<EndpointSpec> = bad
        .iter()
        .map(|(n, s, _)| scripted(n, &rx.url, s))
        .collect();
    specs.push(endpoint("healthy", &rx.url, &[]));
    let (hub, _dir) = start_hookbus(specs).await;
    let r = hub.publish(order()).await.unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    for (name, _, kind) in bad {
        let id = endpoint_id(&hub, name).await;
        let dlv = r
            .deliveries
            .iter()
            .find(|d| d.endpoint_id == id)
            .unwrap()
            .id
            .clone();
        let dl = wait_dead_letter(&hub, &dlv, 10).await;
        assert!(
            dl.reason.starts_with("transform failed"),
            "{name}: {}",
            dl.reason
        );
        assert!(
            dl.reason.contains(kind),
            "{name}: expected {kind} in {}",
            dl.reason
        );
    }
    assert_eq!(rx.count(), 1, "only the healthy endpoint delivered");
    // The engine still works after every failure.
    let ok = hub
        .upsert_endpoint(scripted(
            "later",
            &rx.url,
            "fn transform(e) { #{ok: true} }",
        ))
        .await;
    assert!(ok.is_ok());
    hub.publish(PublishRequest::new("x.y", json!({})))
        .await
        .unwrap();
    rx.wait_for(3, Duration::from_secs(5)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn compile_errors_are_rejected_with_line_and_column() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let spec = scripted(
        "broken",
        "http://127.0.0.1:9/",
        "fn transform(event) {\n    let x = ;\n}",
    );
    match hub.upsert_endpoint(spec).await {
        Err(BusError::Invalid(p)) => {
            assert_eq!(p[0].0, "transform.script");
            // The script is named (endpoint, inline or file), then line and column.
            assert!(
                p[0].1
                    .starts_with("endpoint `broken` (inline script), line 2, column"),
                "{}",
                p[0].1
            );
            assert!(p[0].1.contains(" 2 |     let x = ;"), "{}", p[0].1);
        }
        other => panic!(
            "expected a 422-style error, got {:?}",
            other.map(|u| u.record.id.clone())
        ),
    }
    let wrong = scripted("wrong", "http://127.0.0.1:9/", "fn reshape(e) { e }");
    assert!(matches!(
        hub.upsert_endpoint(wrong).await,
        Err(BusError::Invalid(_))
    ));
    let base = serve_api(&hub);
    let mut resp = awc::Client::new()
        .post(format!("{base}/v1/transforms/test"))
        .send_json(&json!({"script": "fn transform(e) { e.data.", "event": {"type": "a.b"}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .starts_with("inline script, line 1"),
        "{body}"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn updating_the_script_swaps_it_for_later_deliveries() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![scripted(
        "swap",
        &rx.url,
        "fn transform(e) { #{v: 1} }",
    )])
    .await;
    hub.publish(order()).await.unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    hub.upsert_endpoint(scripted("swap", &rx.url, "fn transform(e) { #{v: 2} }"))
        .await
        .unwrap();
    hub.publish(order()).await.unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["v"], 1);
    assert_eq!(got[1].json()["v"], 2);
    hub.shutdown().await;
}

#[actix_web::test]
async fn replaying_a_dead_letter_after_fixing_the_script_delivers_the_new_output() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![scripted(
        "fixme",
        &rx.url,
        "fn transform(e) { e.data.missing.field }",
    )])
    .await;
    let base = serve_api(&hub);
    let r = hub.publish(order()).await.unwrap();
    let dlv = r.deliveries[0].id.clone();
    assert!(
        eventually(Duration::from_secs(5), || hub
            .store()
            .dead_letter(&dlv)
            .unwrap()
            .is_some())
        .await
    );
    hub.upsert_endpoint(scripted(
        "fixme",
        &rx.url,
        "fn transform(e) { #{fixed: e.data.id} }",
    ))
    .await
    .unwrap();
    let client = awc::Client::new();
    let mut dry = client
        .post(format!("{base}/v1/dead-letters/replay"))
        .send_json(&json!({"endpoint": "fixme", "dry_run": true}))
        .await
        .unwrap();
    let dry: Value = dry.json().await.unwrap();
    assert_eq!(
        (dry["count"].as_u64(), dry["dry_run"].as_bool()),
        (Some(1), Some(true))
    );
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 0, "a dry run replays nothing");
    assert!(hub.store().dead_letter(&dlv).unwrap().is_some());
    let mut real = client
        .post(format!("{base}/v1/dead-letters/replay"))
        .send_json(&json!({"ids": [dlv.clone()]}))
        .await
        .unwrap();
    assert_eq!(real.status(), 200);
    let real: Value = real.json().await.unwrap();
    assert_eq!(real["count"], 1);
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json(), json!({"fixed": 42}));
    assert!(status_of(&hub, &dlv, DeliveryStatus::Delivered).await);
    assert!(hub.store().dead_letter(&dlv).unwrap().is_none());
    assert!(
        hub.replay_dead_letters(DeadLetterFilter::default(), true)
            .await
            .unwrap()
            .is_empty()
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn dry_run_api_shows_output_for_scripts_and_endpoints() {
    let (hub, _dir) = start_hookbus(vec![{
        let mut s = endpoint("slacky", "http://127.0.0.1:9/", &[]);
        s.format = Format::Slack;
        s
    }])
    .await;
    let base = serve_api(&hub);
    let client = awc::Client::new();
    let event = json!({"type": "order.created", "data": {"id": 7}});
    let mut resp = client
        .post(format!("{base}/v1/transforms/test"))
        .send_json(&json!({"script": "fn transform(e) { if e.data.id > 5 { () } else { e } }", "event": event}))
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["skipped"].as_bool(), &body["output"]),
        (Some(true), &Value::Null)
    );
    assert!(body["duration_us"].is_u64());
    let mut resp = client
        .post(format!("{base}/v1/transforms/test"))
        .send_json(&json!({"endpoint_id": "slacky", "event": event}))
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["output"]["blocks"][0]["text"]["text"], "order.created",
        "{body}"
    );
    let mut resp = client
        .post(format!("{base}/v1/transforms/test"))
        .send_json(&json!({"script": "fn transform(e) { loop {} }", "event": event}))
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_kind"], "too_many_operations", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("transforms.max_operations"),
        "{body}"
    );
    hub.shutdown().await;
}

/// Time until a plain and a cheaply scripted endpoint each received 20 events,
/// with or without a third endpoint whose script burns its whole budget every time.
async fn isolation_run(with_burner: bool) -> (Duration, Duration) {
    let rx_fast = TestReceiver::start(200);
    let rx_cheap = TestReceiver::start(200);
    let mut endpoints = vec![
        scripted("cheap", &rx_cheap.url, "fn transform(e) { #{id: e.id} }"),
        endpoint("plain", &rx_fast.url, &[]),
    ];
    if with_burner {
        endpoints.push(scripted(
            "burner",
            "http://127.0.0.1:9/",
            "fn transform(e) { let x = 0; loop { x += 1; } }",
        ));
    }
    let (mut cfg, _dir) = test_config();
    cfg.transforms.max_operations = 2_000_000; // each burner run takes tens of ms
    cfg.endpoints = endpoints;
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let started = Instant::now();
    for i in 0..20 {
        hub.publish(PublishRequest::new("x.y", json!({ "i": i })))
            .await
            .unwrap();
    }
    let fast = rx_fast.wait_for(20, Duration::from_secs(10)).await;
    let cheap = rx_cheap.wait_for(20, Duration::from_secs(10)).await;
    hub.shutdown().await;
    (
        fast.last().unwrap().at.duration_since(started),
        cheap.last().unwrap().at.duration_since(started),
    )
}

#[actix_web::test]
async fn a_script_burning_its_budget_does_not_delay_other_endpoints() {
    let (base_fast, base_cheap) = isolation_run(false).await;
    let (fast, cheap) = isolation_run(true).await;
    eprintln!(
        "20 events; baseline: plain {base_fast:?}, scripted {base_cheap:?}; with a budget-burning endpoint: plain {fast:?}, scripted {cheap:?}"
    );
    // Generous bounds for a loaded CI machine; the printed figures are the measurement.
    let slack = Duration::from_millis(300);
    assert!(
        fast < base_fast + slack,
        "plain endpoint slowed from {base_fast:?} to {fast:?}"
    );
    assert!(
        cheap < base_cheap + slack,
        "scripted endpoint slowed from {base_cheap:?} to {cheap:?}"
    );
}

#[actix_web::test]
async fn cli_transform_test_runs_a_script_file_offline() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"type":"order.created","data":{"id":1,"total":500,"customer":{"email":"a@b.c"},"currency":"EUR","items":[]}}"#).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/examples/field-mapping.rhai"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbus"))
        .args(["transform", "test", script, "--event"])
        .arg(&event)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["order_id"], 1);
    assert_eq!(v["output"]["item_count"], 0);
    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "fn transform(e) {").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbus"))
        .args(["transform", "test"])
        .arg(&bad)
        .arg("--event")
        .arg(&event)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[actix_web::test]
async fn redaction_masks_fields_before_transforms_and_delivery() {
    let rx = TestReceiver::start(200);
    let mut plain = endpoint("plain", &rx.url, &["plain.*"]);
    plain.redact = vec!["data.customer.email".into(), "phone".into()];
    let mut scripted_ep = scripted(
        "scripted",
        &rx.url,
        "fn transform(e) { #{seen: e.data.customer.email} }",
    );
    scripted_ep.events = vec!["scripted.*".into()];
    scripted_ep.redact = vec!["data.customer.email".into()];
    let (hub, _dir) = start_hookbus(vec![plain, scripted_ep]).await;
    let data = json!({"customer": {"email": "a@b.c", "phone": "+1", "name": "Ann"}});
    hub.publish(PublishRequest::new("plain.x", data.clone()))
        .await
        .unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let body = got[0].json();
    assert_eq!(
        body["data"]["customer"],
        json!({"email": "[REDACTED]", "phone": "[REDACTED]", "name": "Ann"})
    );
    hub.publish(PublishRequest::new("scripted.x", data))
        .await
        .unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(
        got[1].json(),
        json!({"seen": "[REDACTED]"}),
        "the script never sees the value"
    );
    let mut bad = endpoint("bad", &rx.url, &[]);
    bad.redact = vec!["a..b".into()];
    let bad = hub.upsert_endpoint(bad).await;
    assert!(matches!(bad, Err(BusError::Invalid(_))));
    hub.shutdown().await;
}
