//! Delivery behaviour end to end: fan-out, retries, dead letters, breaker, signatures, isolation.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookbus::PublishRequest;
use hookbus::endpoint::breaker::BreakerConfig;
use hookbus::sign::Scheme;
use hookbus::store::records::DeliveryStatus;
use serde_json::json;
use sha2::Sha256;

use crate::utils::*;

fn ev(t: &str) -> PublishRequest {
    PublishRequest::new(t, json!({"n": 1}))
}

#[actix_web::test]
async fn wildcard_fan_out_reaches_every_matching_endpoint() {
    let all = TestReceiver::start(200);
    let orders = TestReceiver::start(200);
    // Refuses, so its dead letter makes a real `hookbus.delivery.dead_lettered`.
    let failed = TestReceiver::start(400);
    let none = TestReceiver::start(200);
    let ops = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![
        endpoint("all", &all.url, &[]),
        endpoint("orders", &orders.url, &["order.**", "!order.test.*"]),
        endpoint("failed", &failed.url, &["agent.*.failed"]),
        endpoint("none", &none.url, &["billing.*"]),
        endpoint("ops", &ops.url, &["hookbus.**"]),
    ])
    .await;
    let r = hub.publish(ev("order.created")).await.unwrap();
    assert_eq!(r.deliveries.len(), 2);
    hub.publish(ev("order.test.ping")).await.unwrap();
    hub.publish(ev("agent.a7.failed")).await.unwrap();
    // The `hookbus.` namespace is the engine's: nobody may forge it.
    match hub.publish(ev("hookbus.endpoint.disabled")).await {
        Err(hookbus::bus::BusError::Invalid(p)) => {
            assert!(p[0].1.contains("reserved"), "{p:?}")
        }
        other => panic!("a forged operational event must be refused: {other:?}"),
    }

    all.wait_for(3, Duration::from_secs(5)).await;
    let got = orders.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["type"], "order.created");
    assert_eq!(got[0].header("webhook-id"), Some(r.id.as_str()));
    failed.wait_for(1, Duration::from_secs(5)).await;
    let op = ops.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(op[0].json()["type"], "hookbus.delivery.dead_lettered");
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        all.count(),
        3,
        "operational events need an explicit hookbus. pattern"
    );
    assert_eq!(orders.count(), 1, "exclusion must hold");
    assert_eq!(none.count(), 0);
    hub.shutdown().await;
}

#[actix_web::test]
async fn retries_on_503_then_delivers_with_the_same_body_and_id() {
    let rx = TestReceiver::start(200);
    rx.script(vec![Reply::status(503), Reply::status(500)]);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    let got = rx.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got[0].body, got[2].body, "retries send identical bytes");
    assert!(
        got.iter()
            .all(|g| g.header("webhook-id") == Some(r.id.as_str()))
    );
    let attempts: Vec<_> = got
        .iter()
        .map(|g| g.header("x-webhook-attempt").unwrap().to_string())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let dlv = &r.deliveries[0].id;
    assert!(
        eventually(Duration::from_secs(2), || {
            hub.store().delivery(dlv).unwrap().unwrap().status == DeliveryStatus::Delivered
        })
        .await
    );
    let history = hub.store().attempts(dlv).unwrap();
    let codes: Vec<_> = history.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(503), Some(500), Some(200)]);
    assert_eq!(history[2].response_body, "reply 200");
    assert!(history[0].error.as_deref().unwrap().contains("503"));
    hub.shutdown().await;
}

#[actix_web::test]
async fn permanent_4xx_goes_straight_to_the_dead_letter_queue() {
    let rx = TestReceiver::start(404);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    let dlv = r.deliveries[0].id.clone();
    let dl = wait_dead_letter(&hub, &dlv, 5).await;
    assert_eq!(dl.attempts, 1);
    assert!(dl.reason.contains("404"), "{}", dl.reason);
    assert_eq!(
        hub.store().delivery(&dlv).unwrap().unwrap().status,
        DeliveryStatus::Dead
    );
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1, "no retry after a permanent failure");
    hub.shutdown().await;
}

#[actix_web::test]
async fn exhausting_max_attempts_dead_letters_with_the_last_error() {
    let rx = TestReceiver::start(502);
    let mut spec = endpoint("a", &rx.url, &[]);
    spec.retry = quick_retry(3);
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    let dlv = r.deliveries[0].id.clone();
    let dl = wait_dead_letter(&hub, &dlv, 5).await;
    assert_eq!(dl.attempts, 3);
    assert!(dl.reason.contains("502"), "{}", dl.reason);
    assert_eq!(rx.count(), 3);
    hub.shutdown().await;
}

#[actix_web::test]
async fn breaker_opens_spends_no_attempts_while_open_and_recovers() {
    let rx = TestReceiver::start(503);
    let mut spec = endpoint("a", &rx.url, &[]);
    spec.retry = quick_retry(50);
    spec.max_in_flight = 1;
    spec.circuit_breaker = BreakerConfig {
        failure_threshold: 3,
        reset_timeout: "700ms".parse().unwrap(),
        half_open_requests: 1,
    };
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    rx.wait_for(3, Duration::from_secs(5)).await;
    let opened_at = Instant::now();
    // Retries are due every 50 ms, but the open breaker must hold them back.
    actix_rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.count(), 3, "no attempt while the breaker is open");
    let dlv = r.deliveries[0].id.clone();
    assert_eq!(hub.store().delivery(&dlv).unwrap().unwrap().attempts, 3);
    rx.set_default(Reply::status(200));
    let got = rx.wait_for(4, Duration::from_secs(5)).await;
    assert!(
        got[3].at.duration_since(opened_at) >= Duration::from_millis(600),
        "trial waits for reset_timeout"
    );
    assert!(
        eventually(Duration::from_secs(2), || {
            hub.store().delivery(&dlv).unwrap().unwrap().status == DeliveryStatus::Delivered
        })
        .await
    );
    // Closed again: a new event goes straight through.
    hub.publish(ev("x.z")).await.unwrap();
    rx.wait_for(5, Duration::from_secs(2)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn retry_after_is_respected() {
    let rx = TestReceiver::start(200);
    rx.script(vec![Reply {
        status: 429,
        headers: vec![("retry-after", "1".into())],
        delay: Duration::ZERO,
    }]);
    let (hub, _dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    hub.publish(ev("x.y")).await.unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After said 1s"
    );
    assert!(gap < Duration::from_secs(3), "{gap:?}");
    hub.shutdown().await;
}

type HmacSha256 = Hmac<Sha256>;

#[actix_web::test]
async fn signatures_verify_independently_for_both_schemes() {
    let std_rx = TestReceiver::start(200);
    let seed_rx = TestReceiver::start(200);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut a = endpoint("std", &std_rx.url, &[]);
    a.signing.secrets = vec![secret.into()];
    let mut b = endpoint("seed", &seed_rx.url, &[]);
    b.signing.scheme = Scheme::Sha256;
    b.signing.secrets = vec!["seed-secret".into()];
    let (hub, _dir) = start_hookbus(vec![a, b]).await;
    hub.publish(ev("x.y")).await.unwrap();

    let got = &std_rx.wait_for(1, Duration::from_secs(5)).await[0];
    let id = got.header("webhook-id").unwrap();
    let ts = got.header("webhook-timestamp").unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret[6..])
        .unwrap();
    let mut mac = HmacSha256::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&got.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(got.header("webhook-signature"), Some(expected.as_str()));
    let age = hookbus::ids::now_ms() / 1000 - ts.parse::<u64>().unwrap();
    assert!(age < 10);

    let got = &seed_rx.wait_for(1, Duration::from_secs(5)).await[0];
    let ts = got.header("x-webhook-timestamp").unwrap();
    let mut mac = HmacSha256::new_from_slice(b"seed-secret").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&got.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(got.header("x-webhook-signature"), Some(expected.as_str()));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(got.header("user-agent").unwrap().starts_with("hookbus/"));
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_slow_endpoint_does_not_delay_a_fast_one() {
    let slow = TestReceiver::start_with(Reply {
        status: 200,
        headers: vec![],
        delay: Duration::from_secs(3),
    });
    let fast = TestReceiver::start(200);
    let mut s = endpoint("slow", &slow.url, &[]);
    s.max_in_flight = 2;
    let (hub, _dir) = start_hookbus(vec![s, endpoint("fast", &fast.url, &[])]).await;
    let started = Instant::now();
    for i in 0..50 {
        hub.publish(PublishRequest::new("x.y", json!({ "i": i })))
            .await
            .unwrap();
    }
    fast.wait_for(50, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "fast endpoint took {elapsed:?}"
    );
    assert!(
        slow.count() <= 2,
        "slow endpoint is limited to its in-flight budget"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn paused_endpoints_queue_and_spend_no_attempts() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("a", &rx.url, &[]);
    spec.status = hookbus::endpoint::spec::Status::Paused;
    let (hub, _dir) = start_hookbus(vec![spec.clone()]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    assert_eq!(
        r.deliveries.len(),
        1,
        "paused endpoints still get deliveries queued"
    );
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0);
    spec.status = hookbus::endpoint::spec::Status::Active;
    hub.upsert_endpoint(spec).await.unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn more_deliveries_than_fit_in_memory_are_paged_from_the_store_in_order() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("a", &rx.url, &[]);
    spec.max_in_flight = 1;
    let (mut cfg, _dir) = test_config();
    cfg.delivery.queue_memory = 16;
    cfg.endpoints = vec![spec];
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let events: Vec<_> = (0..200)
        .map(|i| PublishRequest::new("x.y", json!({ "i": i })))
        .collect();
    hub.publish_batch(events).await.unwrap();
    let got = rx.wait_for(200, Duration::from_secs(20)).await;
    let order: Vec<i64> = got
        .iter()
        .map(|g| g.json()["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..200).collect::<Vec<_>>());
    hub.shutdown().await;
}

#[actix_web::test]
async fn https_urls_are_delivered_over_tls() {
    // A plain-HTTP receiver cannot complete a TLS handshake: the attempt must
    // fail as a TLS error (TLS is compiled in), never as "SSL not supported".
    let rx = TestReceiver::start(200);
    let url = rx.url.replace("http://", "https://");
    let mut spec = endpoint("tls", &url, &[]);
    spec.retry = quick_retry(1);
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    let dlv = r.deliveries[0].id.clone();
    let reason = wait_dead_letter(&hub, &dlv, 5).await.reason;
    eprintln!("TLS to a plain port: {reason}");
    assert!(!reason.to_lowercase().contains("not supported"), "{reason}");
    assert_eq!(rx.count(), 0);
    hub.shutdown().await;
}

fn fake_dns(name: &'static str, target: std::net::SocketAddr) -> hookbus::endpoint::ssrf::LookupFn {
    std::sync::Arc::new(move |host: String, _port| {
        Box::pin(async move {
            if host == name {
                Ok(vec![target])
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "unknown test host",
                ))
            }
        })
    })
}

#[actix_web::test]
async fn ssrf_guard_refuses_loopback_literals_and_names_without_an_allow_list() {
    let rx = TestReceiver::start_on("127.0.0.2", Reply::status(200));
    let addr = rx.addr();
    let (mut cfg, _dir) = test_config();
    cfg.delivery.allow_networks.clear();
    cfg.endpoints = vec![
        endpoint("literal", &rx.url, &[]),
        endpoint(
            "named",
            &format!("http://receiver.test:{}/hook", addr.port()),
            &[],
        ),
    ];
    let hub = hookbus::Hookbus::start_with_lookup(cfg, fake_dns("receiver.test", addr))
        .await
        .unwrap();
    let r = hub.publish(ev("x.y")).await.unwrap();
    for d in &r.deliveries {
        let dl = wait_dead_letter(&hub, &d.id, 5).await;
        assert!(
            dl.reason.contains("destination refused") && dl.reason.contains("loopback"),
            "{}",
            dl.reason
        );
        assert_eq!(dl.attempts, 1, "a refusal is permanent, not retried");
    }
    assert_eq!(rx.count(), 0, "nothing reached the receiver");
    hub.shutdown().await;
}

#[actix_web::test]
async fn allow_networks_lets_a_resolved_name_through_to_the_checked_address() {
    let rx = TestReceiver::start_on("127.0.0.2", Reply::status(200));
    let addr = rx.addr();
    let (mut cfg, _dir) = test_config();
    cfg.delivery.allow_networks = vec!["127.0.0.2/32".into()];
    cfg.endpoints = vec![endpoint(
        "named",
        &format!("http://receiver.test:{}/hook", addr.port()),
        &[],
    )];
    let hub = hookbus::Hookbus::start_with_lookup(cfg, fake_dns("receiver.test", addr))
        .await
        .unwrap();
    hub.publish(ev("x.y")).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].header("host"),
        Some(format!("receiver.test:{}", addr.port()).as_str())
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn fifo_delivers_in_publish_order_and_a_failing_head_blocks_the_rest() {
    let rx = TestReceiver::start(200);
    rx.script(vec![Reply::status(503), Reply::status(503)]);
    let mut spec = endpoint("fifo", &rx.url, &[]);
    spec.ordering = hookbus::endpoint::spec::Ordering::Fifo;
    spec.retry = quick_retry(10);
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let events: Vec<_> = (0..6)
        .map(|i| PublishRequest::new("x.y", json!({ "i": i })))
        .collect();
    hub.publish_batch(events).await.unwrap();
    let got = rx.wait_for(8, Duration::from_secs(5)).await;
    let order: Vec<i64> = got
        .iter()
        .map(|g| g.json()["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        [0, 0, 0, 1, 2, 3, 4, 5],
        "the head is retried until it succeeds; nothing overtakes it"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn concurrent_publishes_reach_a_fifo_endpoint_in_the_order_they_were_accepted() {
    // Publishes committed in one group finish together, and the bus handles
    // their completions in no fixed order; the endpoint must still see them
    // in ticket order, which is the order their (monotonic) ids were given.
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("fifo", &rx.url, &[]);
    spec.ordering = hookbus::endpoint::spec::Ordering::Fifo;
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let n = 300;
    let publishes = (0..n).map(|i| {
        let hub = hub.clone();
        async move {
            hub.publish(PublishRequest::new("x.y", json!({ "i": i })))
                .await
        }
    });
    let receipts = futures_util::future::join_all(publishes).await;
    assert!(receipts.iter().all(Result::is_ok));
    let got = rx.wait_for(n, Duration::from_secs(20)).await;
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.json()["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids.len(), n);
    assert!(ids == sorted, "delivered out of acceptance order: {ids:?}");
    hub.shutdown().await;
}

#[actix_web::test]
async fn rate_limit_holds_deliveries_to_the_configured_pace() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("limited", &rx.url, &[]);
    spec.rate_limit = Some(hookbus::endpoint::rate::RateLimit {
        per_second: 50.0,
        burst: Some(5),
    });
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    let events: Vec<_> = (0..700)
        .map(|i| PublishRequest::new("x.y", json!({ "i": i })))
        .collect();
    hub.publish_batch(events).await.unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(10_500)).await;
    let got = rx.received();
    let t0 = got[0].at;
    // After the burst of 5, 50 per second: count the 10 s that follow it.
    let window: Vec<_> = got
        .iter()
        .filter(|r| {
            r.at > t0 + Duration::from_millis(50) && r.at <= t0 + Duration::from_millis(10_050)
        })
        .collect();
    eprintln!(
        "rate limit 50/s: {} deliveries in 10 s after the burst ({} in total)",
        window.len(),
        got.len()
    );
    assert!(
        (475..=525).contains(&window.len()),
        "{} deliveries in 10 s; expected 500 ± 5%",
        window.len()
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn deliveries_older_than_expire_after_are_dead_lettered_not_sent() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("expiring", &rx.url, &[]);
    spec.status = hookbus::endpoint::spec::Status::Paused;
    spec.expire_after = "300ms".parse().unwrap();
    let (hub, _dir) = start_hookbus(vec![spec.clone()]).await;
    let r = hub.publish(ev("x.y")).await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    spec.status = hookbus::endpoint::spec::Status::Active;
    hub.upsert_endpoint(spec).await.unwrap();
    let dlv = r.deliveries[0].id.clone();
    let dl = wait_dead_letter(&hub, &dlv, 5).await;
    assert!(dl.reason.starts_with("expired"), "{}", dl.reason);
    assert_eq!(rx.count(), 0);
    // A replay starts a fresh expiry window.
    let filter = hookbus::bus::dead_letters::DeadLetterFilter {
        ids: Some(vec![dlv.clone()]),
        ..Default::default()
    };
    assert_eq!(
        hub.replay_dead_letters(filter, false).await.unwrap().len(),
        1
    );
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].header("webhook-id"), Some(r.id.as_str()));
    hub.shutdown().await;
}
