//! Script authors end to end: the shipped filter never drops silently, the
//! published payload arrives byte-faithful without a script, file scripts
//! are named in their errors, huge scripts are refused without stalling
//! publishing, and the CLI tests scripts on real (stored or delivered) events.

use std::time::{Duration, Instant};

use hookbus::PublishRequest;
use hookbus::bus::BusError;
use hookbus::store::records::DeliveryStatus;
use hookbus::transform::TransformSpec;
use serde_json::{Value, json};

use crate::utils::*;

const FILTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/examples/filter.rhai");

async fn final_status(hub: &hookbus::Hookbus, dlv: &str) -> DeliveryStatus {
    let done = |s: DeliveryStatus| {
        matches!(
            s,
            DeliveryStatus::Delivered | DeliveryStatus::Dead | DeliveryStatus::Filtered
        )
    };
    eventually(Duration::from_secs(5), || {
        hub.store()
            .delivery(dlv)
            .unwrap()
            .is_some_and(|d| done(d.status))
    })
    .await;
    hub.store().delivery(dlv).unwrap().unwrap().status
}

#[actix_web::test]
async fn the_filter_example_forwards_or_fails_but_never_silently_filters_a_real_order() {
    let rx = TestReceiver::start(200);
    let mut ep = endpoint("orders", &rx.url, &["order.*"]);
    ep.transform = Some(TransformSpec {
        path: Some(FILTER.into()),
        ..Default::default()
    });
    let (hub, _dir) = start_hookbus(vec![ep]).await;
    let mut statuses = Vec::new();
    let mut dlvs = Vec::new();
    for data in [
        json!({"total": 250}),
        json!({"total": 250.5}),
        json!({"total": "250.00"}),
        json!({"total": "50"}),
        json!({"id": 7}),
    ] {
        let r = hub
            .publish(PublishRequest::new("order.created", data.clone()))
            .await
            .unwrap();
        statuses.push((data, final_status(&hub, &r.deliveries[0].id).await));
        dlvs.push(r.deliveries[0].id.clone());
    }
    use DeliveryStatus::*;
    let got: Vec<DeliveryStatus> = statuses.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        got,
        [Delivered, Delivered, Delivered, Filtered, Dead],
        "{statuses:?}"
    );
    // The order without a total is a dead letter saying why, naming the endpoint
    // and the file; a file's lines are not quoted back.
    let err = wait_dead_letter(&hub, &dlvs[4], 5).await.reason;
    assert!(err.contains("the order has no `total`"), "{err}");
    assert!(err.contains("endpoint `orders`"), "{err}");
    assert!(err.contains("filter.rhai), line 18"), "{err}");
    assert!(!err.contains(" | "), "file lines are not quoted: {err}");
    hub.shutdown().await;
}

#[actix_web::test]
async fn without_a_script_data_arrives_with_its_key_order_and_a_30_digit_integer_intact() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    let api = Api::new(base.clone());
    api.create_endpoint(json!({"name": "exact", "url": rx.url, "events": ["x.*"]}))
        .await;
    let body = r#"{"type":"x.y","data":{"zeta":1,"alpha":{"y":2,"b":3},"big":123456789012345678901234567890,"price":1.50},"metadata":{"z":true,"a":false}}"#;
    let resp = awc::Client::new()
        .post(format!("{base}/v1/events"))
        .insert_header(("content-type", "application/json"))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let text = String::from_utf8(got[0].body.clone()).unwrap();
    assert!(
        text.contains(r#""data":{"zeta":1,"alpha":{"y":2,"b":3},"big":123456789012345678901234567890,"price":1.50}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""metadata":{"z":true,"a":false}"#),
        "{text}"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_script_over_max_script_bytes_is_refused_and_compiling_a_large_one_never_stalls_publishing()
 {
    let rx = TestReceiver::start(200);
    let (mut cfg, _dir) = test_config();
    cfg.transforms.max_script_bytes = 8 << 20;
    cfg.endpoints = vec![endpoint("steady", &rx.url, &["tick"])];
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    // ~4 MiB of statements: compiling it takes a good while.
    let mut big = String::from("fn transform(e) {\n");
    while big.len() < 4 << 20 {
        big.push_str("    let a = [1, 2, 3, #{k: \"v\"}];\n");
    }
    big.push_str("    e\n}\n");
    let create = {
        let hub = hub.clone();
        let mut spec = endpoint("huge", &rx.url, &["other"]);
        spec.transform = Some(TransformSpec::inline(big.clone()));
        actix_rt::spawn(async move {
            let t = Instant::now();
            let r = hub.create_endpoint(spec).await;
            (r.is_ok(), t.elapsed())
        })
    };
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while !create.is_finished() && started.elapsed() < Duration::from_secs(30) {
        let t = Instant::now();
        hub.publish(PublishRequest::new("tick", json!({})))
            .await
            .unwrap();
        slowest = slowest.max(t.elapsed());
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    let (created, compile_took) = create.await.unwrap();
    eprintln!(
        "compiling a 4 MiB script took {compile_took:?}; slowest publish meanwhile {slowest:?}"
    );
    assert!(created);
    assert!(
        slowest < compile_took / 2 && slowest < Duration::from_millis(250),
        "a publish waited {slowest:?} while the script compiled for {compile_took:?}"
    );
    // Over the limit: refused before compiling, naming the key.
    let mut over = endpoint("over", &rx.url, &[]);
    over.transform = Some(TransformSpec::inline(big.repeat(3)));
    match hub.create_endpoint(over).await {
        Err(BusError::Invalid(p)) => {
            assert!(p[0].1.contains("transforms.max_script_bytes"), "{p:?}")
        }
        other => panic!("{other:?}"),
    }
    hub.shutdown().await;
}

fn hookbus_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookbus"))
        .args(args)
        .output()
        .unwrap()
}

/// `hookbus transform test ARGS --url URL` off the test's thread (the server
/// it asks runs on this one); the output's JSON when it succeeded.
async fn transform_test_remote(url: &str, args: &[&str]) -> (std::process::Output, Value) {
    let mut all: Vec<String> = ["transform", "test"].map(String::from).to_vec();
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["--url".to_string(), url.to_string()]);
    let out = actix_rt::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        hookbus_cli(&refs)
    })
    .await
    .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

#[actix_web::test]
async fn cli_transform_test_takes_a_delivered_body_and_prints_the_scripts_logs() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("delivered.json");
    std::fs::write(&event, r#"{"id":"evt_01","type":"order.created","timestamp":"2026-12-01T10:00:00.000Z","data":{"total":"250.00"},"metadata":{}}"#).unwrap();
    let script = dir.path().join("s.rhai");
    std::fs::write(
        &script,
        "fn transform(e) {\n  print(`total is ${e.data.total}`);\n  #{id: e.id, total: parse_float(e.data.total)}\n}\n",
    )
    .unwrap();
    let run = || {
        hookbus_cli(&[
            "transform",
            "test",
            script.to_str().unwrap(),
            "--event",
            event.to_str().unwrap(),
        ])
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"], json!({"id": "evt_01", "total": 250.0}));
    assert_eq!(v["logs"], json!(["total is 250.00"]));
    assert!(stderr.contains("log: total is 250.00"), "{stderr}");
    // A runtime error is printed readably: file, line, the line and a caret.
    std::fs::write(
        &script,
        "fn transform(e) {\n  #{x: e.data.customer.email}\n}\n",
    )
    .unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("s.rhai, line 2"), "{stderr}");
    assert!(
        stderr.contains(" 2 |   #{x: e.data.customer.email}"),
        "{stderr}"
    );
    assert!(stderr.contains("`e.data.customer` is missing"), "{stderr}");
}

#[actix_web::test]
async fn cli_runs_a_stored_event_through_an_endpoints_script_or_a_file_in_its_place() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    let api = Api::new(base.clone());
    api.create_endpoint(json!({"name": "crm", "url": rx.url, "events": ["order.*"],
        "redact": ["data.email"],
        "transform": {"script": "fn transform(e, env) { #{who: e.data.email, region: env.REGION} }", "env": {"REGION": "eu"}}}))
        .await;
    let r = hub
        .publish(PublishRequest::new(
            "order.created",
            json!({"email": "a@b.c", "n": 5}),
        ))
        .await
        .unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    let (out, v) = transform_test_remote(&base, &["--event-id", &r.id, "--endpoint", "crm"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The endpoint's own script, env and redaction.
    assert_eq!(v["output"], json!({"who": "[REDACTED]", "region": "eu"}));
    // A file in the endpoint's place, on the same stored event.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("next.rhai");
    std::fs::write(
        &file,
        "fn transform(e, env) { print(env.REGION); #{n: e.data.n * 2} }",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let (out, v) =
        transform_test_remote(&base, &[file, "--event-id", &r.id, "--endpoint", "crm"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["output"], json!({"n": 10}));
    assert_eq!(v["logs"], json!(["eu"]));
    // An unknown stored event is the server's 404, exit 1.
    let (out, _) =
        transform_test_remote(&base, &["--event-id", "evt_nope", "--endpoint", "crm"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    hub.shutdown().await;
}
