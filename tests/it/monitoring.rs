//! Monitoring an on-call engineer can trust: every series from the endpoint's
//! creation, none after its deletion, lag and in-flight gauges, refusals apart
//! from connect errors, and the shipped rules and dashboard checked by real
//! Prometheus tooling.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hookbus::PublishRequest;
use serde_json::{Value, json};

use crate::utils::*;

async fn scrape(base: &str) -> String {
    let mut r = awc::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    String::from_utf8_lossy(&r.body().limit(64 << 20).await.unwrap()).into_owned()
}

/// The value of the series line that starts with `series ` exactly.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

async fn metered(
    endpoints: Vec<hookbus::EndpointSpec>,
) -> (hookbus::Hookbus, tempfile::TempDir, String) {
    let handle = recorder();
    let (hub, dir) = start_hookbus(endpoints).await;
    hub.attach_metrics(handle);
    let base = serve_api(&hub);
    (hub, dir, base)
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[actix_web::test]
async fn a_new_endpoints_series_all_exist_at_zero_before_any_event() {
    let (hub, _dir, base) = metered(vec![]).await;
    let body = json!({"name": "fresh-series", "url": "http://127.0.0.1:9/"});
    let resp = awc::Client::new()
        .post(format!("{base}/v1/endpoints"))
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let ep = r#"endpoint="fresh-series""#;
    let text = eventually_text(&base, &format!("hookbus_queue_depth{{{ep}}}")).await;
    for outcome in ["success", "failed", "dead", "filtered"] {
        let s = format!("hookbus_deliveries_total{{{ep},outcome=\"{outcome}\"}}");
        assert_eq!(value(&text, &s), Some(0.0), "{s} in\n{text}");
    }
    for result in [
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "timeout",
        "connect_error",
        "refused",
    ] {
        let s = format!("hookbus_delivery_attempts_total{{{ep},result=\"{result}\"}}");
        assert_eq!(value(&text, &s), Some(0.0), "{s}");
    }
    for s in [
        format!("hookbus_delivery_duration_seconds_count{{{ep}}}"),
        format!("hookbus_delivery_duration_seconds_sum{{{ep}}}"),
        format!("hookbus_end_to_end_latency_seconds_count{{{ep}}}"),
        format!("hookbus_transform_errors_total{{{ep}}}"),
        format!("hookbus_queue_depth{{{ep}}}"),
        format!("hookbus_in_flight{{{ep}}}"),
        format!("hookbus_dead_letters{{{ep}}}"),
        format!("hookbus_circuit_state{{{ep}}}"),
        format!("hookbus_endpoint_status{{{ep}}}"),
        format!("hookbus_oldest_pending_seconds{{{ep}}}"),
    ] {
        assert_eq!(value(&text, &s), Some(0.0), "{s} in\n{text}");
    }
    for family in [
        "hookbus_events_published_total{kind=\"user\"}",
        "hookbus_events_published_total{kind=\"operational\"}",
        "hookbus_store_commit_duration_seconds_count",
        "hookbus_transform_duration_seconds_count",
        "hookbus_store_writable",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            value(&text, family).is_some(),
            "global family {family} missing"
        );
    }
    let build = format!(
        "hookbus_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build), Some(1.0));
    hub.shutdown().await;
}

async fn eventually_text(base: &str, must_contain: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(base).await;
        if text.contains(must_contain) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

#[actix_web::test]
async fn deleted_and_renamed_endpoints_leave_no_series() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, base) = metered(vec![
        endpoint("series-doomed", &rx.url, &["s.*"]),
        endpoint("series-old-name", &rx.url, &["s.*"]),
    ])
    .await;
    hub.publish(PublishRequest::new("s.x", json!({})))
        .await
        .unwrap();
    rx.wait_for(2, Duration::from_secs(5)).await;
    let text = eventually_text(
        &base,
        r#"hookbus_deliveries_total{endpoint="series-doomed",outcome="success"} 1"#,
    )
    .await;
    assert!(text.contains(r#"endpoint="series-old-name""#));
    hub.delete_endpoint("series-doomed").await.unwrap();
    let (old, _) = hub.endpoint_status("series-old-name").await.unwrap();
    let mut spec = old.spec.clone();
    spec.name = "series-new-name".into();
    hub.update_endpoint("series-old-name", spec).await.unwrap();
    let text = eventually_text(&base, r#"hookbus_queue_depth{endpoint="series-new-name"}"#).await;
    assert!(
        !text.contains("series-doomed"),
        "a deleted endpoint's series are gone:\n{text}"
    );
    assert!(
        !text.contains("series-old-name"),
        "a renamed endpoint keeps no old-name series:\n{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"hookbus_deliveries_total{endpoint="series-new-name",outcome="success"}"#
        ),
        Some(0.0),
        "the new name starts its own series"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn lag_grows_while_a_receiver_is_down_and_drops_to_zero_after() {
    let rx = TestReceiver::start(503);
    let mut spec = endpoint("lagging", &rx.url, &["lag.*"]);
    spec.retry = quick_retry(100);
    spec.circuit_breaker.failure_threshold = 10_000;
    let (hub, _dir, base) = metered(vec![spec]).await;
    hub.publish(PublishRequest::new("lag.x", json!({})))
        .await
        .unwrap();
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    let series = r#"hookbus_oldest_pending_seconds{endpoint="lagging"}"#;
    let first = value(&scrape(&base).await, series).unwrap();
    assert!(first >= 1.0, "lag while the receiver fails: {first}");
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let later = value(&scrape(&base).await, series).unwrap();
    assert!(later > first, "lag grows: {first} → {later}");
    rx.set_default(Reply::status(200));
    let mut last = later;
    for _ in 0..100 {
        last = value(&scrape(&base).await, series).unwrap();
        if last == 0.0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, 0.0, "nothing pending once delivered");
    hub.shutdown().await;
}

#[actix_web::test]
async fn in_flight_tracks_a_slow_receiver() {
    let rx = TestReceiver::start_with(Reply {
        status: 200,
        headers: vec![],
        delay: Duration::from_millis(1500),
    });
    let (hub, _dir, base) = metered(vec![endpoint("slowpoke", &rx.url, &["slow.*"])]).await;
    for _ in 0..3 {
        hub.publish(PublishRequest::new("slow.x", json!({})))
            .await
            .unwrap();
    }
    let series = r#"hookbus_in_flight{endpoint="slowpoke"}"#;
    let text = eventually_text(&base, &format!("{series} 3")).await;
    assert_eq!(value(&text, series), Some(3.0), "{text}");
    rx.wait_for(3, Duration::from_secs(10)).await;
    let text = eventually_text(&base, &format!("{series} 0")).await;
    assert_eq!(value(&text, series), Some(0.0));
    hub.shutdown().await;
}

#[actix_web::test]
async fn refused_destinations_are_counted_apart_from_connect_errors() {
    // No allow_networks: the SSRF guard refuses loopback before any connection.
    let (mut cfg, _dir) = test_config();
    cfg.delivery.allow_networks = vec![];
    cfg.endpoints = vec![endpoint(
        "refused-dest",
        "http://127.0.0.1:9/hook",
        &["r.*"],
    )];
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    hub.attach_metrics(recorder());
    let base = serve_api(&hub);
    hub.publish(PublishRequest::new("r.x", json!({})))
        .await
        .unwrap();
    let ep = r#"endpoint="refused-dest""#;
    let text = eventually_text(
        &base,
        &format!("hookbus_delivery_attempts_total{{{ep},result=\"refused\"}} 1"),
    )
    .await;
    assert_eq!(
        value(
            &text,
            &format!("hookbus_delivery_attempts_total{{{ep},result=\"refused\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("hookbus_delivery_attempts_total{{{ep},result=\"connect_error\"}}")
        ),
        Some(0.0)
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn operational_events_are_counted_apart_from_user_events() {
    let rejects = TestReceiver::start(400);
    let (hub, _dir, base) = metered(vec![endpoint("kind-rejects", &rejects.url, &["k.*"])]).await;
    let before = scrape(&base).await;
    let op = "hookbus_events_published_total{kind=\"operational\"}";
    let user = "hookbus_events_published_total{kind=\"user\"}";
    let (op0, user0) = (value(&before, op).unwrap(), value(&before, user).unwrap());
    hub.publish(PublishRequest::new("k.x", json!({})))
        .await
        .unwrap();
    // The dead letter makes hookbus publish hookbus.delivery.dead_lettered.
    let mut text = before;
    for _ in 0..100 {
        text = scrape(&base).await;
        if value(&text, op).unwrap() > op0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        value(&text, op).unwrap() > op0,
        "the operational event is counted as such"
    );
    assert!(
        value(&text, user).unwrap() > user0,
        "the user event as a user event"
    );
    hub.shutdown().await;
}

fn monitoring_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(name)
}

#[test]
fn the_shipped_rules_pass_promtool_check_and_their_unit_tests() {
    if !have("promtool") {
        assert!(
            !in_ci(),
            "CI must have promtool (Debian package prometheus)"
        );
        eprintln!("skipping: promtool is not installed");
        return;
    }
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(monitoring_file(""))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A real Prometheus on loopback, killed (by PID) when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrape `target` (host:port) every second, with `rules` loaded.
    async fn start(target: &str, rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: hookbus\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let up = eventually_async(Duration::from_secs(20), || async {
            awc::Client::new()
                .get(format!("{}/-/ready", p.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(up, "prometheus did not start");
        p
    }

    async fn api(&self, path: &str, query: &str) -> Value {
        let url = format!(
            "{}{path}?query={}",
            self.base,
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let mut r = awc::Client::new().get(url).send().await.unwrap();
        r.json::<Value>().limit(16 << 20).await.unwrap()
    }

    async fn firing(&self) -> Vec<(String, String)> {
        let v = self.api("/api/v1/alerts", "").await;
        v["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["labels"]["endpoint"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

#[actix_web::test]
async fn a_real_prometheus_fires_the_shipped_rules_and_parses_every_dashboard_query() {
    if !have("prometheus") {
        assert!(
            !in_ci(),
            "CI must have prometheus (Debian package prometheus)"
        );
        eprintln!("skipping: prometheus is not installed");
        return;
    }
    let rejects = TestReceiver::start(400);
    let flaky = TestReceiver::start(503);
    let healthy = TestReceiver::start(200);
    let mut f = endpoint("prom-flaky", &flaky.url, &["p.*"]);
    f.retry = quick_retry(100);
    f.circuit_breaker.failure_threshold = 2;
    f.circuit_breaker.reset_timeout = "1h".parse().unwrap();
    let (hub, _dir, base) = metered(vec![
        endpoint("prom-rejects", &rejects.url, &["p.*"]),
        f,
        endpoint("prom-healthy", &healthy.url, &["p.*"]),
    ])
    .await;
    // The shipped rules, with `for:` shortened so the test sees them fire.
    let shipped = std::fs::read_to_string(monitoring_file("alerts.yml")).unwrap();
    let rules: String = shipped
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for:") {
                "        for: 0s"
            } else {
                l
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let prom = Prometheus::start(base.trim_start_matches("http://"), &rules).await;
    // Keep traffic flowing while Prometheus collects a few samples.
    let mut fired = Vec::new();
    for _ in 0..60 {
        hub.publish(PublishRequest::new("p.tick", json!({})))
            .await
            .unwrap();
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        fired = prom.firing().await;
        let has = |name: &str, ep: &str| fired.iter().any(|(a, e)| a == name && e == ep);
        if has("HookbusEndpointSuccessRateLow", "prom-rejects")
            && has("HookbusCircuitOpenTooLong", "prom-flaky")
        {
            break;
        }
    }
    let has = |name: &str, ep: &str| fired.iter().any(|(a, e)| a == name && e == ep);
    assert!(
        has("HookbusEndpointSuccessRateLow", "prom-rejects"),
        "the 0 % endpoint alerts: {fired:?}"
    );
    assert!(
        has("HookbusCircuitOpenTooLong", "prom-flaky"),
        "the open circuit alerts: {fired:?}"
    );
    assert!(
        !has("HookbusEndpointSuccessRateLow", "prom-healthy"),
        "{fired:?}"
    );
    // Every dashboard query parses and evaluates against the real server.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring_file("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$job", ".*");
            let v = prom.api("/api/v1/query", &expr).await;
            assert_eq!(v["status"], "success", "{expr}: {v}");
            checked += 1;
        }
    }
    assert!(checked >= 12);
    hub.shutdown().await;
}
