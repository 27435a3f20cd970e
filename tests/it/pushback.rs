//! Publish push-back: a healthy endpoint's backlog past its bound makes
//! publishes answer 503 with Retry-After (nothing acknowledged is lost);
//! publishing resumes once the backlog drains; a down receiver's backlog
//! never trips it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::utils::*;

async fn start(
    global: usize,
    per_endpoint: usize,
    eps: Vec<hookbus::EndpointSpec>,
) -> (hookbus::Hookbus, tempfile::TempDir, Api) {
    let (mut cfg, dir) = test_config();
    cfg.delivery.max_backlog = global;
    cfg.delivery.max_backlog_per_endpoint = per_endpoint;
    cfg.endpoints = eps;
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let api = Api::new(serve_api(&hub));
    (hub, dir, api)
}

/// Publish `n` events as fast as answers come; the acknowledged ids and the
/// refusals (status 503 with `Retry-After`).
async fn flood(base: &str, event_type: &str, n: usize) -> (HashSet<String>, usize) {
    let client = awc::Client::new();
    let (mut acked, mut refused) = (HashSet::new(), 0);
    for i in 0..n {
        let mut resp = client
            .post(format!("{base}/v1/events"))
            .send_json(&json!({"type": event_type, "data": {"i": i}}))
            .await
            .unwrap();
        match resp.status().as_u16() {
            202 => {
                let body: serde_json::Value = resp.json().await.unwrap();
                acked.insert(body["id"].as_str().unwrap().to_string());
            }
            503 => {
                assert_eq!(resp.headers().get("retry-after").unwrap(), "1");
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "backlog_full", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    (acked, refused)
}

#[actix_web::test]
async fn a_healthy_backlog_past_its_bound_pushes_publishing_back_until_it_drains() {
    let metrics = recorder();
    let rx = TestReceiver::start_with(Reply {
        delay: Duration::from_millis(20),
        ..Reply::status(200)
    });
    let mut slow = endpoint("slow", &rx.url, &["job.*"]);
    slow.max_in_flight = 1;
    let (hub, _dir, api) = start(30, 0, vec![slow]).await;
    let (acked, refused) = flood(api.base(), "job.run", 300).await;
    assert!(refused > 0, "the bound was never reached");
    assert!(!acked.is_empty());
    // Told why, on /readyz too, while it lasts.
    let (s, ready) = api.call("GET", "/readyz", None).await;
    if s == 503 {
        assert_eq!(ready["backlog"]["status"], "over", "{ready}");
    }
    // Nothing acknowledged is lost: every 202 is delivered.
    let got = rx.wait_for(acked.len(), Duration::from_secs(30)).await;
    let seen: HashSet<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        acked.is_subset(&seen),
        "{} acknowledged, {} delivered",
        acked.len(),
        seen.len()
    );
    // Drained: publishing is accepted again, and /readyz is ready.
    assert!(
        eventually_async(Duration::from_secs(5), || async {
            api.call("GET", "/readyz", None).await.0 == 200
        })
        .await
    );
    let (s, body) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({"type": "job.run", "data": {}})),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert!(
        metrics.render().lines().any(|l| l
            .starts_with("hookbus_publish_refused_total{reason=\"backlog\"}")
            && !l.ends_with(" 0")),
        "the refusals are counted"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn one_endpoints_bound_refuses_only_publishes_that_reach_it() {
    let slow_rx = TestReceiver::start_with(Reply {
        delay: Duration::from_millis(50),
        ..Reply::status(200)
    });
    let fast_rx = TestReceiver::start(200);
    let mut slow = endpoint("slow", &slow_rx.url, &["slow.*"]);
    slow.max_in_flight = 1;
    let fast = endpoint("fast", &fast_rx.url, &["fast.*"]);
    let (hub, _dir, api) = start(0, 20, vec![slow, fast]).await;
    let (acked, refused) = flood(api.base(), "slow.job", 200).await;
    assert!(refused > 0, "{} acked, {:?}", acked.len(), hub.pressure());
    assert!(
        acked.len() <= 25,
        "the bound holds within a few: {}",
        acked.len()
    );
    // The other endpoint's publishers are not held back meanwhile.
    let (acked, refused) = flood(api.base(), "fast.job", 50).await;
    assert_eq!((acked.len(), refused), (50, 0));
    fast_rx.wait_for(50, Duration::from_secs(10)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_down_receivers_backlog_never_pushes_back() {
    // Nothing listens there: every attempt fails to connect, the breaker opens.
    let port = free_port();
    let mut down = endpoint("down", &format!("http://127.0.0.1:{port}/"), &["job.*"]);
    down.circuit_breaker.failure_threshold = 1;
    down.retry = quick_retry(100);
    let (hub, _dir, api) = start(20, 20, vec![down]).await;
    let (_, first) = flood(api.base(), "job.run", 5).await;
    assert_eq!(first, 0);
    // Once its breaker is open its queue is a down receiver's, not a healthy one's.
    assert!(
        eventually_async(Duration::from_secs(5), || async {
            hub.endpoint_status("down").await.unwrap().1.breaker
                == hookbus::endpoint::breaker::State::Open
        })
        .await
    );
    let (acked, refused) = flood(api.base(), "job.run", 200).await;
    assert_eq!(
        (acked.len(), refused),
        (200, 0),
        "a down receiver must not stop publishing"
    );
    assert!(hub.pressure().healthy_backlog < 20, "{:?}", hub.pressure());
    hub.shutdown().await;
}
