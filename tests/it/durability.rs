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
    let server_config =
        ServerConfig::write(dir.path(), &patient_endpoint("receiver", &rx.url, "200ms"));
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
        "endpoints[0] (a).url",
        "endpoints[0] (a).events[0]",
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

#[actix_web::test]
async fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let rx = TestReceiver::start(503);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::write(dir.path(), &patient_endpoint("receiver", &rx.url, "200ms"));
    // Once the write-ahead log reaches the cap, writes fail with EFBIG, as
    // they would with ENOSPC on a full disk.
    let mut child = server.spawn_with_rlimit(libc::RLIMIT_FSIZE, 2 << 20, 2 << 20);
    wait_healthy(&server.base).await;
    let client = awc::Client::new();
    let mut acked = HashSet::new();
    let mut refused = None;
    for i in 0..20_000 {
        let mut resp = client
            .post(format!("{}/v1/events", server.base))
            .send_json(&serde_json::json!({
                "type": "order.created",
                "data": {"i": i, "pad": "x".repeat(1000)}
            }))
            .await
            .unwrap();
        let status = resp.status();
        let retry_after = resp.headers().get("retry-after").cloned();
        let content_type = resp.headers().get("content-type").cloned();
        let body: serde_json::Value = resp.json().await.unwrap();
        if status == 202 {
            acked.insert(body["id"].as_str().unwrap().to_string());
            continue;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(content_type.unwrap(), "application/problem+json");
        assert!(retry_after.is_some(), "503 says when to retry");
        refused = Some(body);
        break;
    }
    let problem = refused.expect("the capped store ran out of room");
    assert_eq!(problem["code"], "store_unavailable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("nothing was acknowledged"), "{detail}");
    assert!(
        !detail.contains(&*server.data.to_string_lossy()),
        "no file paths leak"
    );
    assert!(
        acked.len() > 100,
        "the cap left room for some events: {}",
        acked.len()
    );
    // Still refusing, and not ready, rather than crashing or acknowledging.
    let resp = client
        .post(format!("{}/v1/events", server.base))
        .send_json(&serde_json::json!({"type": "order.created", "data": {}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let mut ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["store"], "write_failed");
    child.kill().unwrap();
    child.wait().unwrap();

    // Room again: every acknowledged event is delivered.
    rx.set_default(Reply::status(200));
    let mut child = server.spawn();
    wait_healthy(&server.base).await;
    let delivered = eventually(Duration::from_secs(30), || {
        let ids: HashSet<String> = rx
            .received()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect();
        acked.is_subset(&ids)
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "disk full: {} events acknowledged before the 2 MiB file-size cap, then 503 {}; all delivered after restart: {delivered}",
        acked.len(),
        problem["code"]
    );
    assert!(
        delivered,
        "all {} acknowledged events delivered after the disk had room again",
        acked.len()
    );
}
