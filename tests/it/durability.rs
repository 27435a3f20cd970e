//! Durability with the real binary: kill -9 and restart lose nothing acknowledged.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::utils::*;

#[actix_web::test]
async fn kill_9_and_restart_resumes_every_acknowledged_delivery() {
    let rx = TestReceiver::start(503);
    let dir = tempfile::tempdir().unwrap();
    let server_config = ServerConfig::write(
        dir.path(),
        &format!(
            r#"
[[endpoints]]
name = "receiver"
url = "{}"
retry = {{ strategy = "fixed", initial_delay = "200ms", max_attempts = 100, jitter = "none" }}
circuit_breaker = {{ failure_threshold = 1000 }}
"#,
            rx.url
        ),
    );
    let base = server_config.base.clone();

    let mut server = server_config.spawn();
    wait_healthy(&base).await;
    let client = awc::Client::new();
    let mut acked = HashSet::new();
    for i in 0..30 {
        let mut resp = client
            .post(format!("{base}/v1/events"))
            .send_json(&serde_json::json!({"type": "order.created", "data": {"i": i}}))
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let body: serde_json::Value = resp.json().await.unwrap();
        acked.insert(body["id"].as_str().unwrap().to_string());
    }
    rx.wait_for(30, Duration::from_secs(10)).await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let before = rx.count();
    rx.set_default(Reply::status(200));
    let mut server = server_config.spawn();
    wait_healthy(&base).await;
    let delivered = eventually(Duration::from_secs(20), || {
        let ids: HashSet<String> = rx.received()[before..]
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect();
        acked.is_subset(&ids)
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        delivered,
        "every acknowledged event is delivered after kill -9 and restart"
    );
}

#[actix_web::test]
async fn check_config_reports_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"nope\"\n[[endpoints]]\nname = \"a\"\nurl = \"ftp://x\"\nevents = [\"a.**.b\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "server.listen",
        "endpoints[0].url",
        "endpoints[0].events[0]",
    ] {
        assert!(err.contains(needle), "missing {needle} in {err}");
    }
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[storage]\npath = \"x\"\nengine = \"rocks\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "-c"])
        .arg(&unknown)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("engine"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("hookbus.example.toml");
    let out = Command::new(BIN)
        .args(["check-config", "-c"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[actix_web::test]
async fn retention_removes_finished_events_but_never_open_deliveries() {
    let ok = TestReceiver::start(200);
    let down = TestReceiver::start(503);
    let mut slow = endpoint("down", &down.url, &["stuck.*"]);
    slow.retry.initial_delay = "1h".parse().unwrap();
    let (hub, _dir) = start_hookbus(vec![endpoint("ok", &ok.url, &["done.*"]), slow]).await;
    let done = hub
        .publish(hookbus::PublishRequest::new(
            "done.x",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let stuck = hub
        .publish(hookbus::PublishRequest::new(
            "stuck.x",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    ok.wait_for(1, Duration::from_secs(5)).await;
    down.wait_for(1, Duration::from_secs(5)).await;
    let dlv = done.deliveries[0].id.clone();
    assert!(
        eventually(Duration::from_secs(2), || !hub
            .store()
            .attempts(&dlv)
            .unwrap()
            .is_empty())
        .await
    );
    let removed =
        hookbus::store::retention::sweep(hub.store(), hookbus::ids::now_ms() + 1000).unwrap();
    assert_eq!(removed, 1);
    assert!(hub.store().event(&done.id).unwrap().is_none());
    assert!(hub.store().delivery(&dlv).unwrap().is_none());
    assert!(hub.store().attempts(&dlv).unwrap().is_empty());
    assert!(
        hub.store().event(&stuck.id).unwrap().is_some(),
        "open deliveries are kept"
    );
    assert!(
        hub.store()
            .delivery(&stuck.deliveries[0].id)
            .unwrap()
            .is_some()
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn shutdown_lets_in_flight_attempts_finish_and_records_them() {
    let slow = TestReceiver::start_with(Reply {
        status: 200,
        headers: vec![],
        delay: Duration::from_millis(700),
    });
    let (hub, _dir) = start_hookbus(vec![endpoint("slow", &slow.url, &[])]).await;
    let r = hub
        .publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
        .await
        .unwrap();
    slow.wait_for(1, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    hub.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "shutdown waited for the attempt"
    );
    let d = hub.store().delivery(&r.deliveries[0].id).unwrap().unwrap();
    assert_eq!(
        d.status,
        hookbus::store::records::DeliveryStatus::Delivered,
        "the finished attempt was recorded"
    );
}
