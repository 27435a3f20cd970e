//! Metrics, endpoint stats, and the dashboard.

use std::time::Duration;

use hookbus::PublishRequest;
use hookbus::endpoint::breaker::BreakerConfig;
use serde_json::{Value, json};

use crate::utils::*;

async fn get(url: &str) -> (u16, String) {
    let mut resp = awc::Client::new().get(url).send().await.unwrap();
    let body = resp.body().limit(16 << 20).await.unwrap();
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of the sample line starting with `prefix` (labels included), if any.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[actix_web::test]
async fn metrics_move_with_deliveries_and_pass_promtool() {
    let handle = recorder();
    let ok = TestReceiver::start(200);
    let flaky = TestReceiver::start(200);
    flaky.script(vec![Reply::status(503)]);
    let gone = TestReceiver::start(404);
    let (hub, _dir) = start_hookbus(vec![
        endpoint("m-ok", &ok.url, &[]),
        endpoint("m-flaky", &flaky.url, &[]),
        endpoint("m-gone", &gone.url, &[]),
    ])
    .await;
    hub.attach_metrics(handle);
    let base = serve_api(&hub);
    hub.publish(PublishRequest::new("m.x", json!({})))
        .await
        .unwrap();
    ok.wait_for(1, Duration::from_secs(5)).await;
    flaky.wait_for(2, Duration::from_secs(5)).await;
    gone.wait_for(1, Duration::from_secs(5)).await;
    let key = r#"hookbus_deliveries_total{endpoint="m-flaky",outcome="success"}"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = get(&format!("{base}/metrics")).await.1;
        if sample(&text, key) == Some(1.0) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sample(&text, key), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"hookbus_deliveries_total{endpoint="m-ok",outcome="success"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"hookbus_deliveries_total{endpoint="m-flaky",outcome="failed"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"hookbus_deliveries_total{endpoint="m-gone",outcome="dead"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"hookbus_delivery_attempts_total{endpoint="m-flaky",result="5xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"hookbus_delivery_attempts_total{endpoint="m-gone",result="4xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"hookbus_dead_letters{endpoint="m-gone"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"hookbus_delivery_duration_seconds_count{endpoint="m-flaky"}"#
        ),
        Some(2.0)
    );
    assert!(
        text.contains(r#"hookbus_delivery_duration_seconds_bucket{endpoint="m-ok",le="0.005"}"#),
        "real buckets"
    );
    assert!(text.contains("# HELP hookbus_events_published_total"));
    assert!(text.contains("# TYPE hookbus_end_to_end_latency_seconds histogram"));
    assert!(sample(&text, "hookbus_events_published_total").unwrap() >= 1.0);
    assert!(sample(&text, "hookbus_store_commit_duration_seconds_count").unwrap() >= 1.0);

    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
    {
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool: {report}"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run promtool check metrics (Debian package prometheus)"
        );
        eprintln!("promtool not installed; skipping its check");
    }
    hub.shutdown().await;
}

#[actix_web::test]
async fn circuit_gauge_and_stats_follow_the_breaker() {
    let handle = recorder();
    let rx = TestReceiver::start(503);
    let mut spec = endpoint("m-breaker", &rx.url, &[]);
    spec.retry = quick_retry(50);
    spec.circuit_breaker = BreakerConfig {
        failure_threshold: 2,
        reset_timeout: "500ms".parse().unwrap(),
        half_open_requests: 1,
    };
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    hub.attach_metrics(handle.clone());
    let base = serve_api(&hub);
    hub.publish(PublishRequest::new("x.y", json!({})))
        .await
        .unwrap();
    rx.wait_for(2, Duration::from_secs(5)).await;
    let gauge = r#"hookbus_circuit_state{endpoint="m-breaker"}"#;
    assert!(
        eventually(Duration::from_secs(2), || sample(
            &hub.render_metrics().unwrap(),
            gauge
        ) == Some(2.0))
        .await
    );
    let (status, body) = get(&format!("{base}/v1/endpoints/m-breaker/stats")).await;
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["breaker"], "open");
    assert_eq!(stats["failed"], 2);
    assert_eq!(stats["retries"], 1);
    assert_eq!(stats["queue_depth"], 1);
    rx.set_default(Reply::status(200));
    assert!(
        eventually(Duration::from_secs(5), || sample(
            &hub.render_metrics().unwrap(),
            gauge
        ) == Some(0.0))
        .await
    );
    let (_, body) = get(&format!("{base}/v1/endpoints/m-breaker/stats")).await;
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (stats["breaker"].as_str(), stats["delivered"].as_u64()),
        (Some("closed"), Some(1))
    );
    assert_eq!(stats["success_rate"], 1.0);
    assert!(stats["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    hub.shutdown().await;
}

#[actix_web::test]
async fn endpoint_reads_redact_secrets_and_unknown_ids_are_404() {
    let mut spec = endpoint("redacted", "http://127.0.0.1:9/", &["a.*"]);
    spec.auth = hookbus::endpoint::spec::Auth::Bearer {
        token: "tok-secret".into(),
    };
    let (hub, _dir) = start_hookbus(vec![
        spec,
        endpoint("other", "http://127.0.0.1:9/", &["b.*"]),
    ])
    .await;
    let base = serve_api(&hub);
    let (status, body) = get(&format!("{base}/v1/endpoints/redacted")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("tok-secret") && !body.contains("whsec_"),
        "{body}"
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["signing"]["secrets"][0], "***");
    assert_eq!(v["auth"]["token"], "***");
    assert!(v["id"].as_str().unwrap().starts_with("ep_"));
    let (_, body) = get(&format!("{base}/v1/endpoints?event=b.x")).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["name"], "other");
    let (_, body) = get(&format!("{base}/v1/endpoints?limit=1")).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["next_cursor"], "other");
    let (_, body) = get(&format!("{base}/v1/endpoints?limit=1&cursor=other")).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (page["data"][0]["name"].as_str(), &page["next_cursor"]),
        (Some("redacted"), &Value::Null)
    );
    let (status, body) = get(&format!("{base}/v1/endpoints/nope/stats")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 200);
    hub.shutdown().await;
}

#[actix_web::test]
async fn dashboard_renders_endpoints_in_headless_chromium() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![
        endpoint("dash-orders", &rx.url, &[]),
        endpoint("dash-alerts", &rx.url, &[]),
    ])
    .await;
    let base = serve_api(&hub);
    hub.publish(PublishRequest::new("x.y", json!({})))
        .await
        .unwrap();
    let (status, html) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>hookbus"));
    // The API token stays in the tab's session, never in long-lived storage.
    assert!(html.contains("sessionStorage.setItem(\"hookbus_token\""));
    assert!(!html.contains("localStorage"));
    let Some(chromium) = chromium() else {
        eprintln!("chromium not installed; skipping the browser check");
        hub.shutdown().await;
        return;
    };
    let url = format!("{base}/");
    let dom = actix_rt::task::spawn_blocking(move || {
        headless(chromium, &url, &["--dump-dom".to_string()])
    })
    .await
    .unwrap();
    assert!(
        dom.contains(r#"data-endpoint="dash-orders""#),
        "dashboard DOM: {dom}"
    );
    assert!(dom.contains(r#"data-endpoint="dash-alerts""#));
    assert!(dom.contains("closed"), "breaker state shown");
    hub.shutdown().await;
}
