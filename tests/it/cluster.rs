//! Cluster mode on a real 3-node NATS JetStream cluster (loopback, temp
//! dirs, servers started and killed by PID): rows live in the replicated
//! stream, not on one node.

use std::collections::HashMap;
use std::time::Duration;

use hookbus::config::ClusterConfig;
use hookbus::{Config, Hookbus, PublishRequest};
use serde_json::json;

use crate::utils::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A node's config: a fresh data dir, the cluster's servers.
fn node_config(nats: &NatsCluster, node: &str) -> (Config, tempfile::TempDir) {
    let (mut cfg, dir) = test_config();
    cfg.storage.master_key = Some(backend::CLUSTER_MASTER_KEY.into());
    cfg.cluster = Some(ClusterConfig {
        nats_urls: nats.urls(),
        node_name: node.into(),
        replicas: 3,
        ..Default::default()
    });
    (cfg, dir)
}

async fn stream_last_sequence(nats: &NatsCluster) -> u64 {
    let client = async_nats::connect(nats.urls()[0].as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("HOOKBUS_rows").await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

async fn rows_in_stream(nats: &NatsCluster) -> u64 {
    let client = async_nats::connect(nats.urls()[0].as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("HOOKBUS_rows").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3, "the rows stream is replicated");
    info.state.messages
}

#[actix_rt::test]
async fn pending_deliveries_survive_the_loss_of_the_node_that_accepted_them() {
    let nats = NatsCluster::start(3).await;
    let rx = TestReceiver::start(503);
    let (mut cfg, _dir_a) = node_config(&nats, "a");
    let mut spec = endpoint("crm", &rx.url, &["order.*"]);
    spec.retry = quick_retry(100);
    spec.retry.initial_delay = "100ms".parse().unwrap();
    spec.signing.secrets = vec![SECRET.into()];
    spec.circuit_breaker.failure_threshold = 100_000;
    cfg.endpoints = vec![spec];
    let a = Hookbus::start(cfg).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let receipt = a
            .publish(PublishRequest::new("order.created", json!({ "i": i })))
            .await
            .unwrap();
        ids.push(receipt.id);
    }
    // Attempted (and refused) on node a: the rows are in JetStream.
    rx.wait_for(5, Duration::from_secs(10)).await;
    assert!(rows_in_stream(&nats).await > 10);
    a.shutdown().await;
    drop(a);

    // Node b starts on an empty directory: the endpoint (with its sealed
    // secret) and the five pending deliveries come from the stream.
    rx.set_default(Reply::status(200));
    let seen_before = rx.count();
    let (cfg_b, _dir_b) = node_config(&nats, "b");
    let b = Hookbus::start(cfg_b).await.unwrap();
    let names: Vec<String> = b
        .endpoints()
        .await
        .unwrap()
        .iter()
        .map(|e| e.spec.name.clone())
        .collect();
    assert_eq!(names, vec!["crm".to_string()]);
    let ok = eventually(Duration::from_secs(15), || {
        let got = rx.received();
        ids.iter().all(|id| {
            got.iter()
                .any(|r| r.status == 200 && r.json()["id"] == json!(id))
        })
    })
    .await;
    assert!(ok, "node b delivered every event node a accepted");
    let delivered: Vec<Received> = rx.received()[seen_before..].to_vec();
    for r in delivered.iter().filter(|r| r.status == 200) {
        assert!(r.signed_by(SECRET), "signed with the endpoint's secret");
    }
    // The node says in /metrics what /readyz says: connected, alone (a
    // gave its leases and heartbeat up when it stopped), every partition
    // its own, its cache at the stream's last row once nothing is written.
    let gauge = |name: &str| -> f64 {
        let text = b.render_engine_metrics();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(gauge("hookbus_cluster_nats_connected"), 1.0);
    assert_eq!(gauge("hookbus_cluster_live_nodes"), 1.0);
    assert_eq!(gauge("hookbus_cluster_partitions"), 64.0);
    assert_eq!(gauge("hookbus_cluster_partitions_owned"), 64.0);
    b.shutdown().await;
    let last = stream_last_sequence(&nats).await;
    assert_eq!(gauge("hookbus_cluster_applied_sequence"), last as f64);
}

#[actix_rt::test]
async fn an_embedded_data_directory_is_refused_not_wiped() {
    let nats = NatsCluster::start(1).await;
    let (mut cfg, _dir) = node_config(&nats, "a");
    let cluster = cfg.cluster.take();
    let embedded = Hookbus::start(cfg.clone()).await.unwrap();
    let receipt = embedded
        .publish(PublishRequest::new("x.y", json!({})))
        .await
        .unwrap();
    embedded.shutdown().await;
    drop(embedded);
    cfg.cluster = cluster.map(|c| ClusterConfig { replicas: 1, ..c });
    let err = Hookbus::start(cfg.clone()).await.err().expect("refused");
    assert!(
        hookbus::error_report(&err).contains("empty directory"),
        "{}",
        hookbus::error_report(&err)
    );
    // The embedded store is intact.
    cfg.cluster = None;
    let again = Hookbus::start(cfg).await.unwrap();
    assert!(again.store().has_event(&receipt.id).unwrap());
    again.shutdown().await;
}

#[actix_rt::test]
async fn losing_one_nats_server_of_three_loses_nothing_acknowledged_and_publishing_goes_on() {
    let mut nats = NatsCluster::start(3).await;
    let rx = TestReceiver::start(200);
    let (mut cfg, _dir) = node_config(&nats, "a");
    cfg.endpoints = vec![endpoint("crm", &rx.url, &[])];
    let hub = Hookbus::start(cfg).await.unwrap();
    let mut acked = Vec::new();
    let mut refused = 0;
    let started = std::time::Instant::now();
    let mut killed_at = None;
    let mut first_ack_after_kill = None;
    let mut i = 0u64;
    while started.elapsed() < Duration::from_secs(20) {
        if killed_at.is_none() && started.elapsed() > Duration::from_secs(2) {
            // Whichever server the node talks to, or the stream's leader.
            nats.kill(0);
            killed_at = Some(std::time::Instant::now());
        }
        match hub
            .publish(PublishRequest::new("order.created", json!({ "i": i })))
            .await
        {
            Ok(r) => {
                acked.push(r.id);
                if let (Some(k), None) = (killed_at, first_ack_after_kill) {
                    first_ack_after_kill = Some(k.elapsed());
                }
            }
            Err(_) => refused += 1,
        }
        i += 1;
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let got = |rx: &TestReceiver| -> std::collections::HashSet<String> {
        rx.received()
            .iter()
            .filter_map(|r| r.json()["id"].as_str().map(String::from))
            .collect()
    };
    let all = eventually(Duration::from_secs(20), || {
        let seen = got(&rx);
        acked.iter().all(|id| seen.contains(id))
    })
    .await;
    eprintln!(
        "nats failover: acknowledged={} refused={refused} (503 while JetStream moved), first acknowledgement {first_ack_after_kill:?} after the kill",
        acked.len()
    );
    assert!(all, "every acknowledged event delivered");
    let resumed = first_ack_after_kill.expect("publishing went on on two servers of three");
    // A new stream leader is elected in a few seconds; the consumer of
    // this node's cache moves after two missed heartbeats.
    assert!(
        resumed < Duration::from_secs(15),
        "publishing resumed after {resumed:?}"
    );
    // The server comes back and catches up; the node keeps working.
    nats.restart(0);
    nats.wait_ready(Duration::from_secs(20)).await;
    let r = hub
        .publish(PublishRequest::new(
            "order.created",
            json!({ "after": true }),
        ))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || got(&rx).contains(&r.id)).await,
        "delivered after the restart"
    );
    hub.shutdown().await;
}

#[actix_rt::test]
async fn a_node_shutting_down_hands_its_partitions_over_within_one_renewal_round() {
    let nats = NatsCluster::start(3).await;
    let config = |node: &str| {
        let (mut cfg, dir) = node_config(&nats, node);
        let cluster = cfg.cluster.as_mut().unwrap();
        cluster.partitions = 4;
        // Renewals every 3 s: left to expire, a's leases would outlive its
        // shutdown by at least 6 s.
        cluster.lease_ttl = "9s".parse().unwrap();
        (cfg, dir)
    };
    let owned = |hub: &Hookbus| {
        hub.store()
            .cluster_ownership()
            .map_or(0, |o| o.borrow().mine.len())
    };
    let (cfg_a, _dir_a) = config("a");
    let a = Hookbus::start(cfg_a).await.unwrap();
    assert_eq!(owned(&a), 4, "alone, a takes every partition");
    let (cfg_b, _dir_b) = config("b");
    let b = Hookbus::start(cfg_b).await.unwrap();
    assert_eq!(owned(&b), 0, "a holds them all and renews them");
    let stopped = std::time::Instant::now();
    a.shutdown().await;
    let took_over = eventually(Duration::from_secs(15), || owned(&b) == 4).await;
    let took = stopped.elapsed();
    assert!(took_over, "b never got a's partitions");
    eprintln!("graceful handover: b drives every partition {took:?} after a began to stop");
    assert!(
        took < Duration::from_millis(4500),
        "b took {took:?}: a's leases were left to expire instead of given up"
    );
    b.shutdown().await;
}

#[actix_rt::test]
async fn an_endpoint_deleted_on_another_node_leaves_no_queue_row_on_the_node_driving_it() {
    let nats = NatsCluster::start(3).await;
    let rx = TestReceiver::start(503);
    let one_partition = |node: &str| {
        let (mut cfg, dir) = node_config(&nats, node);
        cfg.cluster.as_mut().unwrap().partitions = 1;
        (cfg, dir)
    };
    // a drives the endpoint (it holds the only partition); outcomes of
    // retries every 10 ms keep coming while b deletes it.
    let (mut cfg_a, _dir_a) = one_partition("a");
    let mut spec = endpoint("busy", &rx.url, &["order.*"]);
    spec.retry = quick_retry(100);
    spec.retry.initial_delay = "10ms".parse().unwrap();
    spec.circuit_breaker.failure_threshold = 100_000;
    let max_in_flight = spec.max_in_flight as usize;
    cfg_a.endpoints = vec![spec];
    let a = Hookbus::start(cfg_a).await.unwrap();
    let (cfg_b, _dir_b) = one_partition("b");
    let b = Hookbus::start(cfg_b).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = b
            .publish(PublishRequest::new("order.created", json!({ "i": i })))
            .await
            .unwrap();
        ids.push(r.deliveries[0].id.clone());
    }
    rx.wait_for(100, Duration::from_secs(20)).await;
    let endpoint_id = a.endpoints().await.unwrap()[0].id.clone();
    b.delete_endpoint("busy").await.unwrap();
    // a hears of it through the stream, retires the endpoint (no attempt
    // starts from then on) and stops its actor (attempts in flight are
    // cancelled). Those in flight when it heard may still reach the
    // receiver, late on a loaded machine: at most one per delivery, since
    // a delivery's next attempt starts only after its last one ended.
    let gone = eventually_async(Duration::from_secs(5), || async {
        a.endpoints().await.unwrap().is_empty()
    })
    .await;
    assert!(gone, "the deletion reached node a");
    let heard = rx.count();
    let quiet = eventually_async(Duration::from_secs(5), || async {
        let before = rx.count();
        tokio::time::sleep(Duration::from_millis(300)).await;
        rx.count() == before
    })
    .await;
    assert!(
        quiet,
        "requests kept coming after the deletion reached node a"
    );
    let late = rx.received().split_off(heard);
    let mut per_delivery: HashMap<String, Vec<String>> = HashMap::new();
    for r in &late {
        per_delivery
            .entry(r.header("webhook-id").unwrap_or_default().to_string())
            .or_default()
            .push(
                r.header("x-webhook-attempt")
                    .unwrap_or_default()
                    .to_string(),
            );
    }
    assert!(
        per_delivery.values().all(|attempts| attempts.len() <= 1),
        "an attempt started after the deletion reached node a: {per_delivery:?}"
    );
    assert!(late.len() <= max_in_flight, "{} late requests", late.len());
    let ended = |hub: &Hookbus| {
        let store = hub.store();
        store
            .queue_page(&endpoint_id, None, usize::MAX)
            .unwrap()
            .is_empty()
            && ids.iter().all(|id| {
                store.delivery(id).unwrap().is_some_and(|d| {
                    d.last_error.as_deref() == Some("endpoint deleted")
                        && d.status == hookbus::store::records::DeliveryStatus::Dead
                })
            })
    };
    let settled = eventually(Duration::from_secs(10), || ended(&a) && ended(&b)).await;
    if !settled {
        for (name, hub) in [("a", &a), ("b", &b)] {
            let q = hub
                .store()
                .queue_page(&endpoint_id, None, usize::MAX)
                .unwrap();
            let open: Vec<_> = ids
                .iter()
                .filter_map(|id| hub.store().delivery(id).unwrap())
                .filter(|d| d.last_error.as_deref() != Some("endpoint deleted"))
                .map(|d| (d.id, d.status, d.last_error))
                .collect();
            eprintln!("{name}: queue rows {q:?}; not ended {open:?}");
        }
    }
    assert!(
        settled,
        "every delivery ends dead with its endpoint, no queue row left (a: {}, b: {})",
        ended(&a),
        ended(&b)
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[actix_rt::test]
async fn with_nats_unreachable_a_node_fences_itself_refuses_publishes_and_recovers_when_it_returns()
{
    let mut nats = NatsCluster::start(3).await;
    let rx = FaultyReceiver::start(Fault::Hang);
    let (mut cfg, _dir) = node_config(&nats, "a");
    let cluster = cfg.cluster.as_mut().unwrap();
    // 8 leases renewed one by one: with NATS gone, one renewal round waits
    // out 8 request timeouts (8 × 2 s), far past the fence (2/3 × 3 s).
    cluster.partitions = 8;
    cluster.lease_ttl = "3s".parse().unwrap();
    cluster.connect_timeout = "2s".parse().unwrap();
    let mut spec = endpoint("hanging", &rx.url, &["order.*"]);
    spec.timeout = "60s".parse().unwrap();
    cfg.endpoints = vec![spec];
    let a = Hookbus::start(cfg).await.unwrap();
    let api = Api::new(serve_api(&a));
    let owned = |hub: &Hookbus| {
        hub.store()
            .cluster_ownership()
            .map_or(0, |o| o.borrow().mine.len())
    };
    assert_eq!(owned(&a), 8);
    let (s, accepted) = api
        .call(
            "POST",
            "/v1/events",
            Some(json!({ "type": "order.created", "data": { "n": 1 } })),
        )
        .await;
    assert_eq!(s, 202, "{accepted}");
    assert!(
        eventually(Duration::from_secs(10), || rx.count() == 1).await,
        "the attempt is on the wire"
    );

    // Every nats-server gone.
    let lost = std::time::Instant::now();
    for i in 0..3 {
        nats.kill(i);
    }
    // Fenced by its own timer: driving nothing within 2/3 of the TTL
    // (plus a fence tick), and the attempt on the wire cancelled with it,
    // long before the endpoint's 60 s timeout.
    assert!(
        eventually(Duration::from_secs(10), || owned(&a) == 0).await,
        "the node still drives partitions"
    );
    let fenced = lost.elapsed();
    assert!(
        eventually(Duration::from_secs(5), || !rx.hangs_ended().is_empty()).await,
        "the attempt in flight was not cancelled"
    );
    let cancelled = rx.hangs_ended()[0].duration_since(lost);
    eprintln!("NATS lost: fenced after {fenced:?}, attempt cancelled after {cancelled:?}");
    assert!(
        fenced < Duration::from_millis(2900),
        "fenced after {fenced:?}"
    );
    assert!(
        cancelled < Duration::from_millis(3000),
        "cancelled after {cancelled:?}"
    );

    // Publishing is refused with a problem and Retry-After; /readyz says why.
    let client = awc::Client::default();
    let mut resp = client
        .post(format!("{}/v1/events", api.base()))
        .send_json(&json!({ "type": "order.created", "data": { "n": 2 } }))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().contains_key("retry-after"), "Retry-After");
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert!(problem["code"] == "store_unavailable", "{problem}");
    let (s, ready) = api.call("GET", "/readyz", None).await;
    assert_eq!(s, 503, "{ready}");
    assert_eq!(ready["cluster"]["nats"], "unreachable", "{ready}");

    // NATS back (same ports, same stores): the node recovers by itself,
    // drives its partitions again and sends the acknowledged event again,
    // with the same webhook-id.
    for i in 0..3 {
        nats.restart(i);
    }
    nats.wait_ready(Duration::from_secs(30)).await;
    let recovered = eventually_async(Duration::from_secs(60), || async {
        api.call(
            "POST",
            "/v1/events",
            Some(json!({ "type": "order.created", "data": { "n": 3 } })),
        )
        .await
        .0 == 202
    })
    .await;
    assert!(recovered, "publishing never recovered");
    assert!(
        eventually(Duration::from_secs(30), || owned(&a) == 8).await,
        "the node drives its partitions again"
    );
    assert!(
        eventually(Duration::from_secs(30), || rx.count() >= 2).await,
        "the acknowledged event was never sent again"
    );
    let ids: Vec<Option<String>> = rx.hits().into_iter().map(|h| h.webhook_id).collect();
    assert!(ids[0].is_some());
    assert!(
        ids[1..].contains(&ids[0]),
        "sent again with the same webhook-id"
    );
    a.shutdown().await;
}
