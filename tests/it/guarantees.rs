//! Promises that must hold across restarts: the `disable_after` clock and
//! the per-endpoint totals live in the store, not in the process.

use std::time::{Duration, Instant};

use hookbus::endpoint::spec::Status;
use hookbus::{Hookbus, PublishRequest};
use serde_json::json;

use crate::utils::*;

#[actix_web::test]
async fn disable_after_counts_from_the_first_failure_even_across_a_restart() {
    let down = TestReceiver::start(503);
    let (mut cfg, _dir) = test_config();
    let mut spec = endpoint("down", &down.url, &[]);
    spec.retry = quick_retry(100);
    spec.retry.initial_delay = "100ms".parse().unwrap();
    spec.circuit_breaker.failure_threshold = 100_000;
    spec.disable_after = "2s".parse().unwrap();
    cfg.endpoints = vec![spec];
    let hub = Hookbus::start(cfg.clone()).await.unwrap();
    hub.publish(PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    down.wait_for(1, Duration::from_secs(5)).await;
    let first_failure = Instant::now();
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    hub.shutdown().await;
    drop(hub);

    // A clock that restarted with the process would disable 2 s after this
    // start, i.e. ≥ 3.2 s after the first failure; the persisted one at ~2 s.
    let hub = Hookbus::start(cfg).await.unwrap();
    let disabled = eventually_async(Duration::from_secs(6), || async {
        hub.endpoint_status("down").await.unwrap().0.spec.status == Status::Disabled
    })
    .await;
    let after = first_failure.elapsed();
    assert!(disabled, "never disabled");
    assert!(
        after < Duration::from_millis(3000),
        "disabled {after:?} after the first failure: the clock restarted"
    );
    // Re-enabled by hand, it gets a whole new window, not the old clock.
    let (record, _) = hub.endpoint_status("down").await.unwrap();
    let mut spec = record.spec.clone();
    spec.status = Status::Active;
    hub.update_endpoint("down", spec).await.unwrap();
    hub.publish(PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    let failures = down.count();
    down.wait_for(failures + 3, Duration::from_secs(5)).await;
    assert_eq!(
        hub.endpoint_status("down").await.unwrap().0.spec.status,
        Status::Active,
        "resumed endpoints start a fresh disable_after window"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn endpoint_totals_survive_a_restart() {
    let rx = TestReceiver::start(200);
    let (mut cfg, _dir) = test_config();
    cfg.endpoints = vec![endpoint("ok", &rx.url, &[])];
    let hub = Hookbus::start(cfg.clone()).await.unwrap();
    for _ in 0..3 {
        hub.publish(PublishRequest::new("a.b", json!({})))
            .await
            .unwrap();
    }
    rx.wait_for(3, Duration::from_secs(5)).await;
    let delivered = |hub: Hookbus| async move {
        let (_, snap) = hub.endpoint_status("ok").await.unwrap();
        (snap.stats.delivered, snap.stats.attempts)
    };
    assert!(
        eventually_async(Duration::from_secs(2), || {
            let hub = hub.clone();
            async move { delivered(hub).await == (3, 3) }
        })
        .await
    );
    hub.shutdown().await;
    drop(hub);

    let hub = Hookbus::start(cfg).await.unwrap();
    assert_eq!(delivered(hub.clone()).await, (3, 3), "totals kept");
    hub.publish(PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    rx.wait_for(4, Duration::from_secs(5)).await;
    assert!(
        eventually_async(Duration::from_secs(2), || {
            let hub = hub.clone();
            async move { delivered(hub).await == (4, 4) }
        })
        .await,
        "and counting on"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn queue_depth_counts_each_delivery_once_when_its_actor_starts_mid_publish() {
    let (hub, _dir, api) = start_with_api().await;
    // Publishers run while the endpoint (paused: nothing leaves the queue)
    // is created, so its actor's start-up count races their commits.
    let publishers: Vec<_> = (0..8)
        .map(|_| {
            let hub = hub.clone();
            actix_rt::spawn(async move {
                let mut receipts = Vec::new();
                for _ in 0..60 {
                    receipts.push(
                        hub.publish(PublishRequest::new("a.b", json!({})))
                            .await
                            .unwrap(),
                    );
                }
                receipts
            })
        })
        .collect();
    actix_rt::time::sleep(Duration::from_millis(5)).await;
    let created = api
        .create_endpoint(json!({"name": "late", "url": "http://127.0.0.1:9/", "status": "paused"}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut matched = 0;
    for p in publishers {
        for r in p.await.unwrap() {
            matched += r.deliveries.iter().filter(|d| d.endpoint_id == id).count();
        }
    }
    assert!(matched > 0, "the endpoint was created after every publish");
    let exact = eventually_async(Duration::from_secs(2), || async {
        hub.endpoint_status("late").await.unwrap().1.queue_depth == matched
    })
    .await;
    let (_, snap) = hub.endpoint_status("late").await.unwrap();
    assert!(
        exact,
        "queue depth {} for {matched} queued deliveries",
        snap.queue_depth
    );
    assert_eq!(hub.store().queue_len(&id).unwrap(), matched);
    hub.shutdown().await;
}

fn slow_refusal() -> Reply {
    // Answers after a pause, so a test can arm a failing commit in between.
    Reply {
        delay: Duration::from_millis(300),
        ..Reply::status(400)
    }
}

#[actix_web::test]
async fn an_operational_event_whose_first_commit_fails_still_arrives() {
    let down = TestReceiver::start_with(slow_refusal());
    let ops = TestReceiver::start(200);
    let mut failing = endpoint("failing", &down.url, &["order.*"]);
    failing.retry = quick_retry(1);
    let (hub, _dir) =
        start_hookbus(vec![failing, endpoint("ops", &ops.url, &["hookbus.**"])]).await;
    let r = hub
        .publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    // The next group commit is the dead_lettered event's publish: it fails.
    hub.store().fail_next_commits(1);
    let dlv = r.deliveries[0].id.clone();
    wait_dead_letter(&hub, &dlv, 5).await;
    let got = ops.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "the event arrived after its commit failed");
    assert_eq!(got[0].json()["type"], "hookbus.delivery.dead_lettered");
    assert_eq!(got[0].json()["data"]["delivery_id"], dlv.as_str());
    assert!(hub.store().outbox().unwrap().is_empty(), "outbox cleared");
    actix_rt::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(ops.count(), 1, "published once");
    hub.shutdown().await;
}

#[actix_web::test]
async fn operational_events_left_unpublished_at_shutdown_are_published_at_the_next_start() {
    let down = TestReceiver::start_with(slow_refusal());
    let ops = TestReceiver::start(200);
    let (mut cfg, _dir) = test_config();
    let mut failing = endpoint("failing", &down.url, &["order.*"]);
    failing.retry = quick_retry(1);
    cfg.endpoints = vec![failing, endpoint("ops", &ops.url, &["hookbus.**"])];
    let hub = Hookbus::start(cfg.clone()).await.unwrap();
    let r = hub
        .publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    // Every commit fails from here on, as on a full disk.
    hub.store().fail_next_commits(usize::MAX);
    wait_dead_letter(&hub, &r.deliveries[0].id, 5).await;
    assert!(
        eventually(Duration::from_secs(2), || hub
            .store()
            .outbox()
            .unwrap()
            .len()
            == 1)
        .await,
        "the event waits in the outbox"
    );
    hub.shutdown().await;
    drop(hub);
    assert_eq!(ops.count(), 0);

    let hub = Hookbus::start(cfg).await.unwrap();
    let got = ops.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "published at start");
    assert_eq!(got[0].json()["type"], "hookbus.delivery.dead_lettered");
    assert!(
        eventually(Duration::from_secs(2), || hub
            .store()
            .outbox()
            .unwrap()
            .is_empty())
        .await
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn dead_letter_pages_by_endpoint_and_time_match_the_full_list() {
    let refusing = TestReceiver::start(400);
    let specs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let mut s = endpoint(n, &refusing.url, &["order.*"]);
            s.retry = quick_retry(1);
            s
        })
        .collect();
    let (hub, _dir) = start_hookbus(specs).await;
    let api = Api::new(serve_api(&hub));
    for _ in 0..7 {
        hub.publish(PublishRequest::new("order.created", json!({})))
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || hub
            .store()
            .dead_letters(100)
            .unwrap()
            .len()
            == 21)
        .await
    );
    let all = hub.store().dead_letters(100).unwrap();
    let (b, c) = (endpoint_id(&hub, "b").await, endpoint_id(&hub, "c").await);
    let mid = {
        let mut times: Vec<u64> = all.iter().map(|d| d.dead_at).collect();
        times.sort_unstable();
        times[10]
    };
    let since = hookbus::ids::rfc3339_ms(mid);
    for (query, want) in [
        (
            "endpoint=b".to_string(),
            all.iter().filter(|d| d.endpoint_id == b).count(),
        ),
        (
            format!("since={since}"),
            all.iter().filter(|d| d.dead_at >= mid).count(),
        ),
        (
            format!("until={since}"),
            all.iter().filter(|d| d.dead_at < mid).count(),
        ),
        (
            format!("endpoint=c&since={since}"),
            all.iter()
                .filter(|d| d.endpoint_id == c && d.dead_at >= mid)
                .count(),
        ),
    ] {
        // Page by two, following the cursor: every match once, in delivery-id order.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (s, page) = api
                .call(
                    "GET",
                    &format!("/v1/dead-letters?{query}&limit=2{cursor}"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{page}");
            for d in page["data"].as_array().unwrap() {
                seen.push(d["delivery_id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "{query}: in order, no repeats");
        assert_eq!(seen.len(), want, "{query}");
    }
    // Purged, they leave every index with the row.
    let (s, _) = api
        .call("DELETE", "/v1/dead-letters?endpoint=a", None)
        .await;
    assert_eq!(s, 200);
    let (_, left) = api.call("GET", "/v1/dead-letters?endpoint=a", None).await;
    assert_eq!(left["data"], json!([]));
    let (_, timed) = api
        .call(
            "GET",
            "/v1/dead-letters?until=2999-01-01T00:00:00Z&limit=1000",
            None,
        )
        .await;
    let a = endpoint_id(&hub, "a").await;
    let timed = timed["data"].as_array().unwrap();
    assert_eq!(timed.len(), 14);
    assert!(timed.iter().all(|d| d["endpoint_id"] != a.as_str()));
    hub.shutdown().await;
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[actix_web::test]
async fn fifo_keeps_publish_order_across_page_ins_failures_and_restarts() {
    let (mut all_restarts, mut all_failures) = (0, 0);
    for seed in 1..=3u64 {
        let mut rng = Lcg(seed);
        let rx = TestReceiver::start(200);
        let (mut cfg, _dir) = test_config();
        // Memory for 16: most deliveries wait in the store and are paged in.
        cfg.delivery.queue_memory = 16;
        let mut spec = endpoint("fifo", &rx.url, &["order.*"]);
        spec.ordering = hookbus::endpoint::spec::Ordering::Fifo;
        spec.retry = quick_retry(100);
        spec.retry.initial_delay = "10ms".parse().unwrap();
        spec.circuit_breaker.failure_threshold = 100_000;
        cfg.endpoints = vec![spec];
        let mut hub = Hookbus::start(cfg.clone()).await.unwrap();
        let total = 150u64;
        let mut next = 0u64;
        let mut restarts = 0;
        while next < total {
            // A burst of publishes, some of them concurrent.
            let burst = (1 + rng.below(40)).min(total - next);
            let publishes: Vec<_> = (next..next + burst)
                .map(|seq| {
                    let hub = hub.clone();
                    async move {
                        hub.publish(PublishRequest::new("order.created", json!({"seq": seq})))
                            .await
                            .unwrap()
                    }
                })
                .collect();
            // Published one after the other: the publish order is seq order.
            for p in publishes {
                p.await;
            }
            next += burst;
            if rng.below(3) == 0 {
                let failures = 1 + rng.below(3) as usize;
                rx.script(vec![Reply::status(503); failures]);
            }
            if rng.below(4) == 0 {
                hub.shutdown().await;
                drop(hub);
                hub = Hookbus::start(cfg.clone()).await.unwrap();
                restarts += 1;
            }
            actix_rt::time::sleep(Duration::from_millis(rng.below(40))).await;
        }
        let delivered = |rx: &TestReceiver| -> Vec<u64> {
            rx.received()
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.json()["data"]["seq"].as_u64().unwrap())
                .collect()
        };
        let all = eventually(Duration::from_secs(30), || {
            let mut seen = delivered(&rx);
            seen.sort_unstable();
            seen.dedup();
            seen.len() as u64 == total
        })
        .await;
        let seen = delivered(&rx);
        assert!(all, "seed {seed}: {} of {total} delivered", seen.len());
        // At least once: a repeat may follow a restart, but the first
        // success of each event comes in publish order, with no gaps.
        let mut firsts = Vec::new();
        for s in seen {
            if !firsts.contains(&s) {
                firsts.push(s);
            }
        }
        assert_eq!(
            firsts,
            (0..total).collect::<Vec<_>>(),
            "seed {seed} ({restarts} restarts): order broken"
        );
        all_restarts += restarts;
        all_failures += rx.received().iter().filter(|r| r.status != 200).count();
        hub.shutdown().await;
    }
    assert!(
        all_restarts > 0 && all_failures > 0,
        "the seeds exercised {all_restarts} restarts and {all_failures} failures"
    );
}
