//! Cluster mode's cost on one node: the same workload on the embedded
//! RocksDB store, on JetStream with one server (`replicas = 1`) and on a
//! 3-server JetStream cluster (`replicas = 3`), all in this run, all on this
//! machine's cores (hookbus, the nats-servers, the sink and the load
//! generator share them).
//!
//! Per backend: a burst of batch publishes and its drain (deliveries/s, a
//! drain figure, not a capacity), then single-event publishes from 32
//! closed-loop connections (acknowledged/s: each 202 waits for the stream's
//! acknowledgement and this node's applier). CPU per delivery is given
//! separately for hookbus and for the nats-servers, so the per-node cost
//! model can be read off: a hookbus node costs about the embedded figure
//! plus the client side of the stream; the NATS cluster costs its column
//! per delivery, times the replicas. Scaling across machines cannot be shown
//! on one 2-core machine.

use std::time::{Duration, Instant};

use super::support::*;
use super::{endpoints_toml, publish_all, scaled, single_publishes, wait_count, warm_up};

#[path = "../../tests/it/utils/nats.rs"]
#[allow(dead_code)]
mod nats;

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Any 32 bytes, base64: cluster mode needs a master key.
const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

struct Row {
    label: &'static str,
    burst_rate: f64,
    burst_engine_us: f64,
    burst_nats_us: f64,
    acked_rate: f64,
    acked_engine_us: f64,
    acked_nats_us: f64,
}

pub async fn cluster(sink: &Sink) {
    let mut rows = Vec::new();
    for (label, servers) in [
        ("embedded RocksDB", 0),
        ("JetStream R1", 1),
        ("JetStream R3", 3),
    ] {
        rows.push(one_backend(sink, label, servers).await);
    }
    println!(
        "{:<18} {:>12} {:>7} {:>12} {:>11} {:>11} {:>7} {:>12} {:>11}",
        "backend",
        "burst dlv/s",
        "ratio",
        "hookbus µs",
        "NATS µs",
        "single 202/s",
        "ratio",
        "hookbus µs",
        "NATS µs"
    );
    let base = &rows[0];
    for r in &rows {
        println!(
            "{:<18} {:>12.0} {:>7.2} {:>12.1} {:>11.1} {:>11.0} {:>7.2} {:>12.1} {:>11.1}",
            r.label,
            r.burst_rate,
            r.burst_rate / base.burst_rate,
            r.burst_engine_us,
            r.burst_nats_us,
            r.acked_rate,
            r.acked_rate / base.acked_rate,
            r.acked_engine_us,
            r.acked_nats_us
        );
    }
    println!(
        "(burst: batch publishes of 100 and their drain; single: 32 closed-loop publishers for 3 s, \
         CPU over the window and the drain after it; µs are CPU per delivery; ratios against embedded)"
    );
}

async fn one_backend(sink: &Sink, label: &'static str, servers: usize) -> Row {
    let nats = if servers > 0 {
        Some(nats::NatsCluster::start(servers).await)
    } else {
        None
    };
    let env: Vec<(&str, String)> = match &nats {
        Some(n) => vec![
            ("HOOKBUS_NATS_URLS", n.urls().join(",")),
            ("HOOKBUS_CLUSTER_REPLICAS", servers.to_string()),
            ("HOOKBUS_MASTER_KEY", MASTER_KEY.to_string()),
            ("HOOKBUS_NODE_NAME", "bench".to_string()),
        ],
        None => Vec::new(),
    };
    let nats_cpu = || -> Duration {
        nats.as_ref().map_or(Duration::ZERO, |n| {
            n.pids().into_iter().map(process_cpu).sum()
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        "cluster",
        dir.path(),
        &endpoints_toml(std::slice::from_ref(&sink.url), false),
        &env,
    );
    wait_ready(&server.base).await;
    warm_up(&server, sink, 1).await;

    let events = scaled(20_000);
    sink.reset(false);
    let (cpu0, nats0, t0) = (server.cpu(), nats_cpu(), Instant::now());
    publish_all(&server.base, events).await;
    let done = wait_count(sink, events, Duration::from_secs(600)).await;
    let n = events as f64;
    let burst_rate = n / done.duration_since(t0).as_secs_f64();
    let burst_engine_us = (server.cpu() - cpu0).as_secs_f64() * 1e6 / n;
    let burst_nats_us = (nats_cpu() - nats0).as_secs_f64() * 1e6 / n;

    sink.reset(false);
    let (cpu0, nats0) = (server.cpu(), nats_cpu());
    let (accepted, took) = single_publishes(&server.base, Duration::from_secs(3)).await;
    wait_count(sink, accepted, Duration::from_secs(600)).await;
    let n = accepted.max(1) as f64;
    Row {
        label,
        burst_rate,
        burst_engine_us,
        burst_nats_us,
        acked_rate: accepted as f64 / took.as_secs_f64(),
        acked_engine_us: (server.cpu() - cpu0).as_secs_f64() * 1e6 / n,
        acked_nats_us: (nats_cpu() - nats0).as_secs_f64() * 1e6 / n,
    }
}

/// The listener opens before a cluster node has caught up and taken its
/// leases; `/readyz` says when it serves.
async fn wait_ready(base: &str) {
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "hookbus not ready");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}
