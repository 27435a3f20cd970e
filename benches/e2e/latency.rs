//! Latency publish → delivery at 50 % of the measured max rate, several runs
//! back to back (the tail varies from run to run), each printed.
//!
//! With `HOOKBUS_BENCH_DEBUG=1` each run also groups its slow deliveries
//! (> 10 ms) into bursts and sets each burst next to the RocksDB background
//! jobs (flushes, compactions) the server's `LOG` records, with the share of
//! the run such windows cover — the chance a burst lines up with a job at
//! random. That is the evidence for or against "the tail comes from
//! RocksDB's background work".

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::support::*;
use super::{common, scale, shaped_server, single_publishes, wait_count};

/// A delivery slower than this counts as slow.
const SLOW: Duration = Duration::from_millis(10);
/// Slow deliveries sent less than this apart belong to one burst.
const BURST_GAP: Duration = Duration::from_millis(20);
/// A burst "follows" a background job that started at most this long before it.
const JOB_WINDOW_US: u64 = 100_000;

/// The max rate of this workload first (32 publishers in a closed loop, one
/// event per request, until everything is delivered), then single-event
/// publishes paced at half of it; latency from just before the request to
/// the sink's receipt, by event id.
pub async fn latency(sink: &Sink) {
    let (server, dir) = shaped_server("latency", sink, 1, false).await;
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish();
    sink.reset(false);
    let t0 = Instant::now();
    let (published, _) = single_publishes(
        &server.base,
        Duration::from_secs_f64(3.0 * scale().max(0.3)),
    )
    .await;
    let done = wait_count(sink, published, Duration::from_secs(120)).await;
    let max_rate = published as f64 / done.duration_since(t0).as_secs_f64();
    let rate = max_rate / 2.0;
    println!("max rate (single-event publishes, all delivered): {max_rate:.0} events/s");
    let runs: usize = std::env::var("HOOKBUS_BENCH_LATENCY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let log = dir.path().join("data").join("LOG");
    for run in 1..=runs {
        latency_run(&server, sink, &client, rate, run, &log).await;
    }
}

/// One paced latency run at `rate`.
async fn latency_run(
    server: &Server,
    sink: &Sink,
    client: &awc::Client,
    rate: f64,
    run: usize,
    log: &Path,
) {
    sink.reset(true);
    let total = (rate * 5.0 * scale()).max(200.0) as u64;
    let sent = Rc::new(RefCell::new(Vec::with_capacity(total as usize)));
    let mut tick = actix_rt::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let data = common::order_data();
    let clock = (Instant::now(), SystemTime::now());
    for i in 0..total {
        tick.tick().await;
        let id = format!("lat-{run}-{i}");
        let req = client
            .post(format!("{}/v1/events", server.base))
            .send_json(&serde_json::json!({"id": id, "type": "bench.order", "data": data}));
        sent.borrow_mut().push((id, Instant::now()));
        tasks.push(actix_rt::spawn(async move {
            let mut resp = req.await.unwrap();
            assert_eq!(resp.status(), 202);
            // Keep the connection alive (see publish_all).
            let _ = resp.body().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_count(sink, total, Duration::from_secs(60)).await;
    let arrivals = sink.state.arrivals.lock().unwrap().clone();
    let timed: Vec<(Instant, Duration)> = sent
        .borrow()
        .iter()
        .filter_map(|(id, t)| {
            arrivals
                .get(id)
                .map(|a| (*t, a.saturating_duration_since(*t)))
        })
        .collect();
    let mut lat: Vec<Duration> = timed.iter().map(|(_, l)| *l).collect();
    lat.sort();
    println!(
        "run {run}: target {rate:.0} events/s, {} events: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        pct(&lat, 0.999).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
    if std::env::var_os("HOOKBUS_BENCH_DEBUG").is_some() {
        let unix_us = |t: Instant| {
            let wall = clock.1 + t.saturating_duration_since(clock.0);
            wall.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros() as u64
        };
        let (first, last) = (timed[0].0, timed[timed.len() - 1].0);
        let jobs = background_jobs(log);
        report_bursts(&timed, &jobs, unix_us(first), unix_us(last), &unix_us);
    }
}

/// A burst of slow deliveries: first and last send time, count, worst latency.
struct Burst {
    from: Instant,
    to: Instant,
    count: usize,
    worst: Duration,
}

/// Group the slow deliveries into bursts, print each with the background
/// job that started last before it (within [`JOB_WINDOW_US`]), and the
/// count of bursts so placed against the share of the run such windows cover.
fn report_bursts(
    timed: &[(Instant, Duration)],
    jobs: &[(u64, String)],
    run_from_us: u64,
    run_to_us: u64,
    unix_us: &dyn Fn(Instant) -> u64,
) {
    let mut bursts: Vec<Burst> = Vec::new();
    for &(at, l) in timed.iter().filter(|(_, l)| *l > SLOW) {
        match bursts.last_mut() {
            Some(b) if at.saturating_duration_since(b.to) < BURST_GAP => {
                b.to = at;
                b.count += 1;
                b.worst = b.worst.max(l);
            }
            _ => bursts.push(Burst {
                from: at,
                to: at,
                count: 1,
                worst: l,
            }),
        }
    }
    let in_run: Vec<&(u64, String)> = jobs
        .iter()
        .filter(|(t, _)| *t + JOB_WINDOW_US >= run_from_us && *t <= run_to_us)
        .collect();
    let mut after_job = 0;
    for b in &bursts {
        let start = unix_us(b.from);
        let job = in_run
            .iter()
            .filter(|(t, _)| *t <= start && start - *t <= JOB_WINDOW_US)
            .max_by_key(|(t, _)| *t);
        after_job += usize::from(job.is_some());
        eprintln!(
            "  burst at {:.3} s: {} slow, worst {:.1} ms{}",
            (start - run_from_us) as f64 / 1e6,
            b.count,
            b.worst.as_secs_f64() * 1e3,
            job.map(|(t, what)| format!(", {} ms after RocksDB {what}", (start - t) / 1000))
                .unwrap_or_default()
        );
    }
    // The share of the run within JOB_WINDOW_US after some job's start.
    let span = run_to_us.saturating_sub(run_from_us).max(1);
    let mut covered = 0;
    let mut until = run_from_us;
    for (t, _) in &in_run {
        let (from, to) = ((*t).max(until), (*t + JOB_WINDOW_US).min(run_to_us));
        covered += to.saturating_sub(from);
        until = until.max(to);
    }
    eprintln!(
        "  {} bursts, {} of them within {} ms after a RocksDB job started; such windows cover {:.0} % of the run ({} jobs)",
        bursts.len(),
        after_job,
        JOB_WINDOW_US / 1000,
        covered as f64 * 100.0 / span as f64,
        in_run.len()
    );
}

/// The start of every flush and compaction in a RocksDB `LOG` (its
/// `EVENT_LOG_v1` lines), as (Unix µs, what), in time order; "what" names
/// the column family (from the job's `[name] [JOB n]` lines) and how long
/// the job ran.
fn background_jobs(log: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut cf_of_job = std::collections::HashMap::new();
    let mut started = Vec::new();
    let mut finished = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((before, after)) = line.split_once("] [JOB ") {
            let job = after.split(']').next().and_then(|j| j.parse::<u64>().ok());
            // `[cf] [JOB n]`; other lines have a source location there.
            match (job, before.rsplit_once('[')) {
                (Some(job), Some((_, cf))) if !cf.contains(['/', ':']) => {
                    cf_of_job.entry(job).or_insert_with(|| cf.to_owned());
                }
                _ => {}
            }
        }
        let Some((_, json)) = line.split_once("EVENT_LOG_v1 ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            continue;
        };
        let (Some(at), Some(job), Some(event)) = (
            v.get("time_micros").and_then(|t| t.as_u64()),
            v.get("job").and_then(|j| j.as_u64()),
            v.get("event").and_then(|e| e.as_str()),
        ) else {
            continue;
        };
        match event {
            "flush_started" => started.push((at, job, "flush")),
            "compaction_started" => started.push((at, job, "compaction")),
            "flush_finished" | "compaction_finished" => {
                finished.insert(job, at);
            }
            _ => {}
        }
    }
    let mut jobs: Vec<(u64, String)> = started
        .into_iter()
        .map(|(at, job, kind)| {
            let cf = cf_of_job.get(&job).map_or("?", String::as_str);
            let took = finished
                .get(&job)
                .map(|end| format!(", {} ms", end.saturating_sub(at) / 1000))
                .unwrap_or_default();
            (at, format!("{kind} of {cf}{took}"))
        })
        .collect();
    jobs.sort();
    jobs
}
