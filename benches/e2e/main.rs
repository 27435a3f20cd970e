//! End-to-end benchmark (`cargo bench --bench e2e`), everything measured in
//! one run on this machine, each figure next to its baseline:
//!
//! 1. Delivery throughput: B-awc (a bare awc loop posting the same body to
//!    the same sink with the same in-flight count) vs the real `hookbus
//!    serve` (fsync group commit), fan-out 1 and 10, with and without a Rhai
//!    script: deliveries/s, ratio to B-awc, engine CPU µs per delivery.
//! 2. Sustained: the highest open-loop publish rate delivered with the
//!    backlog flat (a capacity; the throughput rows are a burst and its
//!    drain), for fan-out 1, fan-out 1 + Rhai and fan-out 10.
//! 3. Latency publish → delivery at 50% of the measured max rate (p50/p99/p99.9), 5 runs.
//! 4. Ingest: durable `202`s per engine CPU-second vs a bare actix handler.
//! 5. Isolation: 100 endpoints, one black-holed: healthy deliveries/s vs all healthy.
//! 6. Dead-letter queries at 1 M dead letters over 100 endpoints.
//! 7. Publish latency while a 20,000-entry dead-letter replay runs, against
//!    the same publisher just before it.
//! 8. 200 closed-loop publishers' publish latency, receiver answering at once
//!    vs in 50 ms.
//! 9. Cluster: the same node on embedded RocksDB, JetStream R1 and R3 (needs
//!    nats-server, `tools/install-deps.sh`; only with `HOOKBUS_BENCH_ONLY=cluster`
//!    or `HOOKBUS_BENCH_CLUSTER=1`).
//!
//! `HOOKBUS_BENCH_PACE=5000` adds trials at that fixed rate (engine CPU,
//! switches and syscalls per event: the A/B figure between two builds);
//! `HOOKBUS_BENCH_ONLY=none HOOKBUS_BENCH_PACE=5000` runs only those;
//! `HOOKBUS_BENCH_PACE_FAN_OUT=10` and `HOOKBUS_BENCH_PACE_SCRIPT=1` change
//! their shape (fan-out, the Rhai reshape).
//! `HOOKBUS_BENCH_SCALE=0.2` shrinks every run (a smoke test);
//! `HOOKBUS_BENCH_DEBUG=1` also lists when the latency run's late events (> 10 ms)
//! were sent, to see whether the tail comes in bursts. Results go to
//! docs/BENCHMARKS.md by hand, with the exact command.

mod cluster;
#[path = "../common.rs"]
mod common;
mod crowd;
mod dead_letters;
mod latency;
mod replay;
mod support;
mod sustained;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookbus::{Event, PublishRequest};
use support::*;

const IN_FLIGHT: usize = 16;

fn scale() -> f64 {
    std::env::var("HOOKBUS_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// `HOOKBUS_BENCH_ONLY=throughput,sustained,latency,ingest,isolation,dead_letters,replay,crowd` picks sections (default all).
fn section(name: &str) -> bool {
    std::env::var("HOOKBUS_BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s == name))
}

fn scaled(n: u64) -> u64 {
    ((n as f64 * scale()) as u64).max(100)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bare-ingest") {
        return bare_ingest(args[i + 1].parse().unwrap());
    }
    // `cargo test --benches` runs bench targets with no `--bench`: nothing to measure then.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let body = Event::accept(PublishRequest::new("bench.order", common::order_data())).body();
    println!(
        "e2e: event body {} bytes, {} CPUs, scale {}",
        body.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        scale()
    );
    let sink = Sink::start();
    actix_rt::System::new().block_on(run_all(sink, body));
}

async fn run_all(sink: Sink, body: Bytes) {
    println!("\n## Delivery throughput (engine CPU excludes the sink and the load generator)");
    println!(
        "{:<34} {:>12} {:>9} {:>14}",
        "run", "deliveries/s", "ratio", "CPU µs/dlv"
    );
    let fan_outs: &[usize] = if section("throughput") { &[1, 10] } else { &[] };
    for &fan_out in fan_outs {
        let total = scaled(40_000);
        let (rate_b, cpu_b) = bare_awc(&sink, &body, IN_FLIGHT * fan_out, total);
        println!(
            "{:<34} {:>12.0} {:>9} {:>14.1}",
            format!("B-awc, {} in flight", IN_FLIGHT * fan_out),
            rate_b,
            "1.00",
            cpu_b
        );
        for script in [false, true] {
            let (rate, cpu) = hookbus_throughput(&sink, fan_out, script, total).await;
            println!(
                "{:<34} {:>12.0} {:>9.2} {:>14.1}",
                format!(
                    "hookbus fan-out {fan_out}{}",
                    if script { " + Rhai" } else { "" }
                ),
                rate,
                rate / rate_b,
                cpu
            );
        }
    }

    if section("sustained") {
        // The three sustained figures: fan-out 1, + Rhai, fan-out 10.
        for (fan_out, script) in [(1, false), (1, true), (10, false)] {
            println!(
                "\n## Sustained: highest open-loop rate with the queue flat (single-event publishes, fan-out {fan_out}, {})",
                if script { "Rhai reshape" } else { "no script" }
            );
            sustained::sustained(&sink, &body, fan_out, script).await;
        }
    }

    // Not a section of the default run: an A/B tool (see sustained::paced).
    if let Some(rate) = std::env::var("HOOKBUS_BENCH_PACE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        // `HOOKBUS_BENCH_PACE_FAN_OUT=10`, `HOOKBUS_BENCH_PACE_SCRIPT=1`: another shape.
        let fan_out = std::env::var("HOOKBUS_BENCH_PACE_FAN_OUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let script = std::env::var("HOOKBUS_BENCH_PACE_SCRIPT").is_ok_and(|v| v == "1");
        println!(
            "\n## Paced: single-event publishes at {rate:.0}/s, fan-out {fan_out}, {}",
            if script { "Rhai reshape" } else { "no script" }
        );
        sustained::paced(&sink, &body, rate, fan_out, script).await;
    }

    if section("latency") {
        println!(
            "\n## Latency publish → delivery at 50% of max rate (single-event publishes, fan-out 1, no script)"
        );
        latency::latency(&sink).await;
    }
    if section("ingest") {
        println!("\n## Ingest: durable 202s per engine CPU-second");
        ingest().await;
    }
    if section("isolation") {
        println!("\n## Isolation: 100 endpoints, one black-holed");
        isolation(&sink).await;
    }
    if section("dead_letters") {
        println!("\n## Dead-letter queries: 100 endpoints, every delivery refused (400)");
        dead_letters::dead_letter_queries().await;
    }
    if section("crowd") {
        println!("\n## 200 closed-loop publishers: publish latency, receiver fast vs slow");
        crowd::crowd_latency().await;
    }
    if section("replay") {
        println!("\n## Publishes while a 20,000-entry dead-letter replay runs");
        replay::replay_stall().await;
    }
    let named =
        std::env::var("HOOKBUS_BENCH_ONLY").is_ok_and(|o| o.split(',').any(|s| s == "cluster"));
    if named || std::env::var_os("HOOKBUS_BENCH_CLUSTER").is_some() {
        println!(
            "\n## Cluster: one node on embedded RocksDB vs JetStream R1 / R3 (fan-out 1, no script)"
        );
        cluster::cluster(&sink).await;
    }
}

/// B-awc: a bare awc client on its own thread, `in_flight` requests at a time.
/// Returns (requests/s, client CPU µs per request).
fn bare_awc(sink: &Sink, body: &Bytes, in_flight: usize, total: u64) -> (f64, f64) {
    sink.reset(false);
    let (url, body) = (sink.url.clone(), body.clone());
    let (elapsed, cpu) = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let client = awc::Client::builder()
                .disable_redirects()
                .connector(awc::Connector::new().limit(0))
                .finish();
            let next = Rc::new(Cell::new(0u64));
            let (cpu0, t0) = (thread_cpu(), Instant::now());
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (client, url, body, next) =
                        (client.clone(), url.clone(), body.clone(), next.clone());
                    actix_rt::spawn(async move {
                        loop {
                            let i = next.get();
                            if i >= total {
                                break;
                            }
                            next.set(i + 1);
                            let mut resp = client
                                .post(&url)
                                .insert_header(("content-type", "application/json"))
                                .insert_header(("webhook-id", format!("b{i}")))
                                .send_body(body.clone())
                                .await
                                .unwrap();
                            let _ = resp.body().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            (t0.elapsed(), thread_cpu() - cpu0)
        })
    })
    .join()
    .unwrap();
    assert_eq!(sink.count(), total);
    (
        total as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / total as f64,
    )
}

fn endpoints_toml(urls: &[String], script: bool) -> String {
    let mut out = String::new();
    for (i, url) in urls.iter().enumerate() {
        out.push_str(&format!(
            "[[endpoints]]\nname = \"ep{i}\"\nurl = \"{url}\"\nevents = [\"bench.*\"]\nmax_in_flight = {IN_FLIGHT}\n"
        ));
        if script {
            out.push_str(&format!(
                "transform = {{ script = '''{}''' }}\n",
                common::RESHAPE
            ));
        }
    }
    out
}

/// Publish `events` through `POST /v1/events/batch` (100 per request, 4 requests at a time).
async fn publish_all(base: &str, events: u64) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let data = common::order_data();
    let mut pending = Vec::new();
    for from in (0..events).step_by(100) {
        let batch: Vec<_> = (from..(from + 100).min(events))
            .map(|_| serde_json::json!({"type": "bench.order", "data": data}))
            .collect();
        let req = client
            .post(format!("{base}/v1/events/batch"))
            .send_json(&serde_json::json!({ "events": batch }));
        pending.push(actix_rt::spawn(async move {
            let mut resp = req.await.unwrap();
            assert_eq!(resp.status(), 202);
            // Read to the end: awc pools a connection only once its body is
            // read; otherwise every request would open a new one.
            let _ = resp.body().await;
        }));
        if pending.len() == 4 {
            pending.remove(0).await.unwrap();
        }
    }
    for p in pending {
        p.await.unwrap();
    }
}

async fn wait_count(sink: &Sink, n: u64, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    while sink.count() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} deliveries arrived",
            sink.count()
        );
        actix_rt::time::sleep(Duration::from_micros(500)).await;
    }
    Instant::now()
}

/// Deliveries/s from the first publish to the last delivery, and the
/// server's CPU µs per delivery over that window.
async fn hookbus_throughput(
    sink: &Sink,
    fan_out: usize,
    script: bool,
    deliveries: u64,
) -> (f64, f64) {
    let label = format!("throughput-{fan_out}{}", if script { "-rhai" } else { "" });
    let (server, _dir) = shaped_server(&label, sink, fan_out, script).await;
    let events = deliveries / fan_out as u64;
    sink.reset(false);
    let (cpu0, t0) = (server.cpu(), Instant::now());
    publish_all(&server.base, events).await;
    let done = wait_count(sink, events * fan_out as u64, Duration::from_secs(600)).await;
    let cpu = server.cpu() - cpu0;
    let n = (events * fan_out as u64) as f64;
    (
        n / done.duration_since(t0).as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n,
    )
}

/// `hookbus serve` with `fan_out` endpoints for `sink`, each matching every
/// bench event (and each running the reshape when `script`), warmed up; the
/// server comes first so it stops before its directory goes.
async fn shaped_server(
    label: &str,
    sink: &Sink,
    fan_out: usize,
    script: bool,
) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..fan_out)
        .map(|i| format!("{}?ep={i}", sink.url))
        .collect();
    let server = Server::start(label, dir.path(), &endpoints_toml(&urls, script));
    warm_up(&server, sink, fan_out as u64).await;
    (server, dir)
}

async fn warm_up(server: &Server, sink: &Sink, fan_out: u64) {
    sink.reset(false);
    publish_all(&server.base, 100).await;
    wait_count(sink, 100 * fan_out, Duration::from_secs(60)).await;
}

/// The baseline ingest server: parse the JSON, answer 202 with an id. No storage.
fn bare_ingest(port: u16) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    actix_rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new().route(
                "/v1/events",
                web::post().to(|body: web::Json<serde_json::Value>| async move {
                    let _ = body.get("type");
                    HttpResponse::Accepted()
                        .json(serde_json::json!({"id": ulid::Ulid::new().to_string()}))
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .unwrap()
        .run()
        .await
        .unwrap()
    });
}

/// 32 clients posting single events for `window`; (202s, elapsed).
/// The body of one single-event `POST /v1/events`.
fn single_event_body() -> Bytes {
    Bytes::from(
        serde_json::to_vec(
            &serde_json::json!({"type": "bench.order", "data": common::order_data()}),
        )
        .unwrap(),
    )
}

/// 32 keep-alive closed-loop publishers of single events for `window`:
/// how many were accepted, and how long it took.
async fn single_publishes(base: &str, window: Duration) -> (u64, Duration) {
    let (tally, took) = crowd::closed_loop(base, 32, window).await;
    (tally.accepted, took)
}

/// Single-event publishes for a few seconds; (202/s, 202 per server CPU-second).
async fn ingest_load(base: &str, pid: u32) -> (f64, f64) {
    let cpu0 = process_cpu(pid);
    let (accepted, elapsed) =
        single_publishes(base, Duration::from_secs_f64(5.0 * scale().max(0.2))).await;
    let cpu = process_cpu(pid) - cpu0;
    (
        accepted as f64 / elapsed.as_secs_f64(),
        accepted as f64 / cpu.as_secs_f64(),
    )
}

async fn ingest() {
    let port = free_port();
    let mut bare = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--bare-ingest", &port.to_string()])
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let (bare_rate, bare_per_cpu) =
        ingest_load(&format!("http://127.0.0.1:{port}"), bare.id()).await;
    let _ = bare.kill();
    let _ = bare.wait();

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start("ingest", dir.path(), "");
    let (rate, per_cpu) = ingest_load(&server.base, server.child.id()).await;
    println!(
        "{:<34} {:>10} {:>16} {:>7}",
        "server", "202/s", "202/CPU-second", "ratio"
    );
    println!(
        "{:<34} {:>10.0} {:>16.0} {:>7}",
        "bare actix handler (no storage)", bare_rate, bare_per_cpu, "1.00"
    );
    println!(
        "{:<34} {:>10.0} {:>16.0} {:>7.2}",
        "hookbus POST /v1/events (fsync)",
        rate,
        per_cpu,
        per_cpu / bare_per_cpu
    );
}

async fn isolation(sink: &Sink) {
    let events = scaled(400);
    let mut rates = Vec::new();
    for black_holed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut urls: Vec<String> = (0..100).map(|i| format!("{}?ep={i}", sink.url)).collect();
        if black_holed {
            urls[0] = black_hole();
        }
        let label = if black_holed {
            "isolation-black-hole"
        } else {
            "isolation"
        };
        let server = Server::start(label, dir.path(), &endpoints_toml(&urls, false));
        let healthy = if black_holed { 99 } else { 100 };
        sink.reset(false);
        publish_all(&server.base, 10).await;
        wait_count(sink, 10 * healthy, Duration::from_secs(60)).await;
        sink.reset(false);
        let t0 = Instant::now();
        publish_all(&server.base, events).await;
        let done = wait_count(sink, events * healthy, Duration::from_secs(600)).await;
        let rate = (events * healthy) as f64 / done.duration_since(t0).as_secs_f64();
        rates.push(rate);
        println!(
            "{:<34} {:>12.0} healthy deliveries/s{}",
            if black_holed {
                "1 of 100 black-holed"
            } else {
                "100 healthy"
            },
            rate,
            if black_holed {
                format!(", {:.2} of the all-healthy rate", rate / rates[0])
            } else {
                String::new()
            }
        );
    }
}
