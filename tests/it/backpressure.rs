//! Backpressure: with the receiver down, a large backlog waits in RocksDB,
//! not in memory; the server keeps accepting publishes; when the receiver
//! comes back everything drains.
//!
//! CI queues 20,000 deliveries. The full run queues 1,000,000:
//! `HOOKBUS_BACKLOG=1000000 cargo test --test it -- --ignored --nocapture backlog`

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;

use crate::utils::*;

/// A sink that only remembers which `webhook-id`s it saw (1M receipts with
/// bodies would not fit a test's memory budget).
#[derive(Clone, Default)]
struct Sink {
    ids: Arc<Mutex<(HashSet<String>, usize)>>,
}

impl Sink {
    fn start_on(&self, port: u16) {
        let ids = self.ids.clone();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let ids = ids.clone();
                    App::new().default_service(web::to(move |req: HttpRequest| {
                        let ids = ids.clone();
                        async move {
                            if let Some(id) = req.headers().get("webhook-id") {
                                let mut g = ids.lock().unwrap();
                                g.0.insert(id.to_str().unwrap_or_default().to_string());
                                g.1 += 1;
                            }
                            HttpResponse::Ok().finish()
                        }
                    }))
                })
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", port))
                .unwrap()
                .run()
                .await
                .unwrap()
            })
        });
    }

    fn unique(&self) -> usize {
        self.ids.lock().unwrap().0.len()
    }

    fn total(&self) -> usize {
        self.ids.lock().unwrap().1
    }
}

#[derive(Debug)]
struct Report {
    queued: usize,
    publish: Duration,
    rss_idle: u64,
    rss_peak_queueing: u64,
    rss_peak_draining: u64,
    probe_latency: Duration,
    drain: Duration,
    duplicates: usize,
}

async fn backlog(queued: usize) -> Report {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::write(
        dir.path(),
        &format!(
            r#"
[[endpoints]]
name = "down"
url = "http://127.0.0.1:{port}/hook"
max_in_flight = 64
retry = {{ strategy = "fixed", initial_delay = "1s", max_attempts = 100, jitter = "none" }}
circuit_breaker = {{ failure_threshold = 5, reset_timeout = "1s" }}
"#
        ),
    );
    let mut child = server.spawn();
    let pid = child.id();
    wait_healthy(&server.base).await;
    let rss_idle = rss_bytes(pid);
    let peak = Rc::new(std::cell::Cell::new(rss_idle));
    let sampler = {
        let peak = peak.clone();
        actix_rt::spawn(async move {
            loop {
                peak.set(peak.get().max(rss_bytes(pid)));
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let started = Instant::now();
    let batches: Vec<usize> = (0..queued).step_by(1000).collect();
    let posts = futures_util::stream::iter(batches)
        .map(|from| {
            let client = client.clone();
            let url = format!("{}/v1/events/batch", server.base);
            async move {
                let events: Vec<_> = (from..(from + 1000).min(queued))
                    .map(|i| serde_json::json!({"type": "backlog.item", "data": {"i": i}}))
                    .collect();
                let resp = client
                    .post(url)
                    .send_json(&serde_json::json!({ "events": events }))
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 202);
            }
        })
        .buffer_unordered(4);
    posts.collect::<Vec<()>>().await;
    let publish = started.elapsed();

    // The backlog is all there; a new publish is still answered at once.
    let probe_started = Instant::now();
    let resp = client
        .post(format!("{}/v1/events", server.base))
        .send_json(&serde_json::json!({"type": "backlog.item", "data": {"probe": true}}))
        .await
        .unwrap();
    let probe_latency = probe_started.elapsed();
    assert_eq!(resp.status(), 202);
    let rss_peak_queueing = peak.get();

    let sink = Sink::default();
    sink.start_on(port);
    let drain_started = Instant::now();
    let all = queued + 1;
    let drained = eventually(Duration::from_secs(30 + queued as u64 / 500), || {
        sink.unique() >= all
    })
    .await;
    let drain = drain_started.elapsed();
    sampler.abort();
    let rss_peak_draining = peak.get();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        drained,
        "only {} of {all} deliveries arrived after the receiver came back",
        sink.unique()
    );
    let report = Report {
        queued,
        publish,
        rss_idle,
        rss_peak_queueing,
        rss_peak_draining,
        probe_latency,
        drain,
        duplicates: sink.total() - sink.unique(),
    };
    println!(
        "backlog: queued={} publish={:?} ({:.0}/s) rss idle={} MiB, peak while queueing={} MiB, peak while draining={} MiB; publish with the backlog queued took {:?}; drain={:?} ({:.0}/s) duplicates={}",
        report.queued,
        report.publish,
        report.queued as f64 / report.publish.as_secs_f64(),
        report.rss_idle >> 20,
        report.rss_peak_queueing >> 20,
        report.rss_peak_draining >> 20,
        report.probe_latency,
        report.drain,
        report.queued as f64 / report.drain.as_secs_f64(),
        report.duplicates
    );
    report
}

/// Memory must not grow with the backlog: the in-memory queue is bounded
/// (`delivery.queue_memory`), the rest waits in RocksDB (whose memtables
/// and caches are bounded too).
const RSS_BUDGET: u64 = 384 << 20;

fn assert_bounded(r: &Report) {
    assert!(
        r.rss_peak_queueing.max(r.rss_peak_draining) < RSS_BUDGET,
        "RSS grew past {} MiB: {r:?}",
        RSS_BUDGET >> 20
    );
    assert!(
        r.probe_latency < Duration::from_secs(2),
        "publishing stalls behind the backlog: {r:?}"
    );
}

#[actix_web::test]
async fn a_backlog_for_a_down_receiver_stays_on_disk_and_drains() {
    let r = backlog(20_000).await;
    assert_bounded(&r);
}

#[actix_web::test]
#[ignore = "queues 1,000,000 deliveries (minutes); run with --ignored"]
async fn a_backlog_of_a_million_deliveries_keeps_memory_bounded_and_drains() {
    let queued = std::env::var("HOOKBUS_BACKLOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let r = backlog(queued).await;
    assert_bounded(&r);
}
