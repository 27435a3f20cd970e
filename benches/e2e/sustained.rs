//! Sustained capacity: the highest open-loop rate of single-event publishes
//! (~1 KiB events; fan-out 1 or 10 endpoints, with or without a Rhai
//! reshape) that hookbus delivers with its backlog flat for the whole
//! window — a capacity, unlike the throughput rows, which time a burst of
//! batch publishes and its drain.
//!
//! Each trial paces `POST /v1/events` at a rate for the window, sampling the
//! backlog (deliveries owed for 202-acknowledged events minus deliveries
//! made) every 100 ms. A trial is *flat* when every publish was
//! acknowledged on time and the backlog at the end of the window, and its
//! largest sample in the second half, stay under 100 ms worth of deliveries
//! (plus a small constant for in-flight work). A binary search between a
//! quarter of the lower of the closed-loop ingest and delivery rates and
//! 1.3 × the ingest rate finds the highest flat rate, and says whether the
//! engine (backlog growing) or the bench's own publishers (pace not kept)
//! gave out above it; between trials the engine drains.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::support::*;
use super::{IN_FLIGHT, bare_awc, scale, scaled, shaped_server, single_publishes, wait_count};

/// Trials of the search.
const TRIALS: usize = 6;

/// Publishes in flight at most during a trial (each holds a keep-alive
/// connection); reaching it means the acknowledgements lost the pace.
const MAX_OUTSTANDING: usize = 1024;

struct Trial {
    rate: f64,
    acknowledged: u64,
    end_backlog: u64,
    worst_backlog: u64,
    flat: bool,
    /// The pace was not kept: the publishers fell short, or the engine's
    /// acknowledgements fell [`MAX_OUTSTANDING`] behind (not its delivery).
    publisher_short: bool,
    /// Engine CPU (user + system) per acknowledged event, publish and its
    /// deliveries, over the window and the drain after it.
    cpu_us: f64,
    /// Engine read/write-family system calls per acknowledged event.
    syscalls: f64,
    /// Engine context switches per acknowledged event.
    switches: f64,
}

impl Trial {
    /// The trial's verdict as printed.
    fn verdict(&self) -> &'static str {
        if self.flat {
            "flat"
        } else if self.publisher_short {
            "pace not kept (publishers short or acknowledgements late)"
        } else {
            "backlog growing"
        }
    }
}

/// The search for one shape: `fan_out` endpoints, each with the reshape
/// when `script`; rates are printed as deliveries/s, against B-awc with
/// `IN_FLIGHT × fan_out` requests in flight (each endpoint's own limit).
pub async fn sustained(sink: &Sink, body: &bytes::Bytes, fan_out: usize, script: bool) {
    let in_flight = IN_FLIGHT * fan_out;
    let (rate_b, _) = bare_awc(sink, body, in_flight, scaled(40_000));
    let label = format!("sustained-{fan_out}{}", if script { "-rhai" } else { "" });
    let (server, _dir) = shaped_server(&label, sink, fan_out, script).await;
    sink.reset(false);
    let t0 = Instant::now();
    let (accepted, took) = single_publishes(&server.base, Duration::from_secs(2)).await;
    let drained = wait_count(sink, accepted * fan_out as u64, Duration::from_secs(300)).await;
    let ingest = accepted as f64 / took.as_secs_f64();
    let delivered = accepted as f64 / drained.duration_since(t0).as_secs_f64();
    let window = Duration::from_secs_f64((5.0 * scale()).max(2.0));
    // Above the closed-loop ingest too: a trial there shows whether the pace
    // or the delivery gives out first.
    let (mut lo, mut hi) = (ingest.min(delivered) / 4.0, ingest * 1.3);
    let (mut publisher_bound, mut delivery_bound) = (false, false);
    let mut best: Option<Trial> = None;
    println!(
        "closed-loop ingest {ingest:.0} events/s, all delivered at {delivered:.0} events/s; window {:.0} s per trial",
        window.as_secs_f64()
    );
    for _ in 0..TRIALS {
        let rate = (lo + hi) / 2.0;
        let t = trial(&server, sink, rate, window, fan_out).await;
        println!(
            "  trial {:>7.0} events/s: acknowledged {:>6}, backlog at end {:>6}, worst in 2nd half {:>6}, engine {:>5.1} CPU µs/event → {}",
            t.rate,
            t.acknowledged,
            t.end_backlog,
            t.worst_backlog,
            t.cpu_us,
            t.verdict()
        );
        publisher_bound |= t.publisher_short;
        delivery_bound |= !t.flat && !t.publisher_short;
        if t.flat {
            lo = rate;
            best = Some(t);
        } else {
            hi = rate;
        }
    }
    println!("B-awc, {in_flight} in flight: {rate_b:.0} deliveries/s");
    let n = fan_out as f64;
    match best {
        Some(t) => println!(
            "sustained, queue flat: {:.0} deliveries/s ({:.0} events/s), ratio to B-awc {:.3}, engine {:.1} CPU µs per event ({:.1} per delivery), {:.1} read/write syscalls, {:.1} context switches per event{}",
            t.rate * n,
            t.rate,
            t.rate * n / rate_b,
            t.cpu_us,
            t.cpu_us / n,
            t.syscalls,
            t.switches,
            if delivery_bound {
                " (above it the backlog grew: the engine's limit)"
            } else if publisher_bound {
                " (a lower bound: above it the pace was not kept — publishers short or acknowledgements late)"
            } else {
                ""
            }
        ),
        None => println!("sustained: no flat trial at or above {lo:.0} events/s"),
    }
}

/// A/B tool: trials at one fixed rate (`HOOKBUS_BENCH_PACE`, events/s;
/// `HOOKBUS_BENCH_PACE_TRIALS`, default 3), each printing engine CPU,
/// context switches and read/write syscalls per event. The same rate for
/// both builds makes their per-event costs comparable, which a search
/// (each build settling on its own rates) does not.
pub async fn paced(sink: &Sink, body: &bytes::Bytes, rate: f64, fan_out: usize, script: bool) {
    let in_flight = IN_FLIGHT * fan_out;
    let (rate_b, cpu_b) = bare_awc(sink, body, in_flight, scaled(40_000));
    let (server, _dir) = shaped_server("paced", sink, fan_out, script).await;
    let window = Duration::from_secs_f64((5.0 * scale()).max(2.0));
    let trials: usize = std::env::var("HOOKBUS_BENCH_PACE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!(
        "B-awc, {in_flight} in flight: {rate_b:.0} requests/s, {cpu_b:.1} client CPU µs/request"
    );
    for _ in 0..trials {
        let t = trial(&server, sink, rate, window, fan_out).await;
        println!(
            "  paced {:>7.0}/s: acknowledged {:>6}, backlog at end {:>5}, worst in 2nd half {:>5}, {} — engine {:>5.1} CPU µs, {:>4.1} switches, {:>4.1} r/w syscalls per event",
            t.rate,
            t.acknowledged,
            t.end_backlog,
            t.worst_backlog,
            t.verdict(),
            t.cpu_us,
            t.switches,
            t.syscalls,
        );
    }
}

/// One paced window at `rate` events/s, each owed `fan_out` deliveries.
async fn trial(server: &Server, sink: &Sink, rate: f64, window: Duration, fan_out: usize) -> Trial {
    let owed = |acked: u64| acked * fan_out as u64;
    let base = server.base.as_str();
    let cpu_before = server.cpu();
    let counters_before = server.counters();
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish();
    let body = super::single_event_body();
    sink.reset(false);
    let acked = Rc::new(Cell::new(0u64));
    let late = Rc::new(Cell::new(false));
    let mut tick = actix_rt::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t0 = Instant::now();
    let mut next_sample = t0 + Duration::from_millis(100);
    let mut samples = Vec::new();
    let mut tasks = Vec::new();
    let outstanding = Rc::new(Cell::new(0usize));
    while t0.elapsed() < window {
        tick.tick().await;
        if outstanding.get() >= MAX_OUTSTANDING {
            // Acknowledgements fell this far behind: the pace is lost, and
            // more connections would only exhaust file descriptors.
            late.set(true);
            continue;
        }
        outstanding.set(outstanding.get() + 1);
        let req = client
            .post(format!("{base}/v1/events"))
            .insert_header(("content-type", "application/json"))
            .send_body(body.clone());
        let (ack, late, out) = (acked.clone(), late.clone(), outstanding.clone());
        let deadline = t0 + window + Duration::from_secs(1);
        tasks.push(actix_rt::spawn(async move {
            if let Ok(mut resp) = req.await {
                if resp.status() == 202 {
                    ack.set(ack.get() + 1);
                }
                // Keep-alive publishers: awc pools a connection only once
                // its body is read (unread, every publish opened a new one).
                let _ = resp.body().await;
            }
            out.set(out.get() - 1);
            if Instant::now() > deadline {
                late.set(true);
            }
        }));
        if Instant::now() >= next_sample {
            samples.push((t0.elapsed(), owed(acked.get()).saturating_sub(sink.count())));
            next_sample += Duration::from_millis(100);
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end_backlog = owed(acked.get()).saturating_sub(sink.count());
    let worst_backlog = samples
        .iter()
        .filter(|(at, _)| *at >= window / 2)
        .map(|(_, b)| *b)
        .max()
        .unwrap_or(0);
    let bound = owed((rate * 0.1) as u64 + 2 * IN_FLIGHT as u64);
    let expected = (rate * window.as_secs_f64()) as u64;
    let publisher_short = late.get() || acked.get() * 100 < expected * 97;
    let flat = !publisher_short && end_backlog <= bound && worst_backlog <= bound;
    let acknowledged = acked.get();
    // Drain before the next trial.
    wait_count(sink, owed(acknowledged), Duration::from_secs(300)).await;
    let per_event = acknowledged.max(1) as f64;
    let cpu_us = server.cpu().saturating_sub(cpu_before).as_secs_f64() * 1e6 / per_event;
    let counters = server.counters();
    Trial {
        cpu_us,
        syscalls: counters.0.saturating_sub(counters_before.0) as f64 / per_event,
        switches: counters.1.saturating_sub(counters_before.1) as f64 / per_event,
        rate,
        acknowledged,
        end_backlog,
        worst_backlog,
        flat,
        publisher_short,
    }
}
