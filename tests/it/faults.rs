//! Faulty receivers: each fault is handled as DESIGN.md says (retries,
//! breaker, Retry-After), and healthy endpoints do not notice it.
//!
//! Isolation is measured against a healthy run *in the same moment*: two
//! engines run side by side under identical paced load; engine B also has
//! the faulty endpoint. Comparing B's healthy endpoints with A's makes the
//! ratio immune to whatever else the machine is doing (CI runs tests in
//! parallel). Fault tests take a lock so they do not measure each other.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookbus::endpoint::breaker::State;
use hookbus::endpoint::spec::EndpointSpec;
use hookbus::{Hookbus, PublishRequest};

use crate::utils::*;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const HEALTHY: usize = 4;
const RATE_PER_SEC: u32 = 150;
const PHASE: Duration = Duration::from_secs(2);

struct Side {
    hub: Hookbus,
    _dir: tempfile::TempDir,
    rx: TestReceiver,
    /// Event id → when its publish call started.
    published: HashMap<String, Instant>,
    /// The faulty endpoint's delivery ids, in publish order.
    faulty_deliveries: Vec<String>,
}

async fn side(faulty: Option<EndpointSpec>) -> Side {
    let rx = TestReceiver::start(200);
    let mut specs: Vec<EndpointSpec> = (0..HEALTHY)
        .map(|i| {
            endpoint(
                &format!("healthy{i}"),
                &format!("{}?n={i}", rx.url),
                &["load.*"],
            )
        })
        .collect();
    specs.extend(faulty);
    let (hub, dir) = start_hookbus(specs).await;
    Side {
        hub,
        _dir: dir,
        rx,
        published: HashMap::new(),
        faulty_deliveries: Vec::new(),
    }
}

impl Side {
    async fn publish(&mut self, i: u32, faulty_id: Option<&str>) {
        let started = Instant::now();
        let r = self
            .hub
            .publish(PublishRequest::new(
                "load.tick",
                serde_json::json!({"i": i}),
            ))
            .await
            .unwrap();
        self.published.insert(r.id.clone(), started);
        if let Some(fid) = faulty_id {
            self.faulty_deliveries.extend(
                r.deliveries
                    .iter()
                    .filter(|d| d.endpoint_id == fid)
                    .map(|d| d.id.clone()),
            );
        }
    }

    /// Healthy deliveries/s and publish→delivery latency for events published after `from`.
    fn measure(&self, from: Instant) -> Measured {
        let mut latencies = Vec::new();
        let (mut first, mut last) = (None::<Instant>, None::<Instant>);
        for r in self.rx.received() {
            let Some(&sent) = r.header("webhook-id").and_then(|id| self.published.get(id)) else {
                continue;
            };
            if sent < from {
                continue;
            }
            latencies.push(r.at.saturating_duration_since(sent));
            first = Some(first.map_or(sent, |f: Instant| f.min(sent)));
            last = Some(last.map_or(r.at, |l: Instant| l.max(r.at)));
        }
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        let span = last.unwrap().duration_since(first.unwrap());
        Measured {
            deliveries: latencies.len(),
            rate: latencies.len() as f64 / span.as_secs_f64(),
            p50: pct(0.5),
            p90: pct(0.9),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    deliveries: usize,
    rate: f64,
    p50: Duration,
    p90: Duration,
}

/// What a fault run leaves for the per-fault checks.
struct Run {
    hub: Hookbus,
    faulty_id: String,
    faulty_deliveries: Vec<String>,
    started: Instant,
    _sides: (Side, Side),
}

/// A faulty endpoint with quick, deterministic retries and a breaker that
/// opens after 5 failures and probes every 500 ms.
fn faulty_spec(url: &str) -> EndpointSpec {
    let mut s = endpoint("faulty", url, &["load.*"]);
    s.retry = quick_retry(100);
    s.retry.initial_delay = "200ms".parse().unwrap();
    s.timeout = "1s".parse().unwrap();
    s.circuit_breaker.failure_threshold = 5;
    s.circuit_breaker.reset_timeout = "500ms".parse().unwrap();
    s
}

/// Run the paced load on a healthy engine and on one with `faulty`, compare
/// their healthy endpoints, and hand engine B back for fault-specific checks.
async fn isolation(name: &str, faulty: EndpointSpec) -> Run {
    let mut a = side(None).await;
    let mut b = side(Some(faulty)).await;
    let faulty_id = endpoint_id(&b.hub, "faulty").await;
    // Warm up connection pools and actors on both sides.
    for i in 0..5 {
        a.publish(i, None).await;
        b.publish(i, Some(&faulty_id)).await;
    }
    a.rx.wait_for(HEALTHY * 5, Duration::from_secs(5)).await;
    b.rx.wait_for(HEALTHY * 5, Duration::from_secs(5)).await;

    let started = Instant::now();
    let n = RATE_PER_SEC * PHASE.as_secs() as u32;
    let mut tick = actix_rt::time::interval(Duration::from_secs(1) / RATE_PER_SEC);
    for i in 0..n {
        tick.tick().await;
        // Alternate who goes first so neither side is systematically favoured.
        if i % 2 == 0 {
            tokio::join!(a.publish(i, None), b.publish(i, Some(&faulty_id)));
        } else {
            tokio::join!(b.publish(i, Some(&faulty_id)), a.publish(i, None));
        }
    }
    let want = HEALTHY * (n as usize + 5);
    a.rx.wait_for(want, Duration::from_secs(20)).await;
    b.rx.wait_for(want, Duration::from_secs(20)).await;
    let (base, with) = (a.measure(started), b.measure(started));
    println!(
        "{name}: healthy run {:.0}/s p50 {:?} p90 {:?} | beside the fault {:.0}/s p50 {:?} p90 {:?} | rate ratio {:.3}, p50 ratio {:.3}",
        base.rate,
        base.p50,
        base.p90,
        with.rate,
        with.p50,
        with.p90,
        with.rate / base.rate,
        with.p50.as_secs_f64() / base.p50.as_secs_f64()
    );
    assert_eq!(base.deliveries, with.deliveries);
    assert!(
        with.rate >= 0.9 * base.rate,
        "{name}: healthy endpoints slowed to {:.0}/s from {:.0}/s",
        with.rate,
        base.rate
    );
    // 10% of the healthy latency, plus 1 ms for timer and scheduling granularity
    // (a healthy p50 is a few ms here, where 10% is below what the OS resolves).
    let slack = base.p50.mul_f64(0.1) + Duration::from_millis(1);
    assert!(
        with.p50 <= base.p50 + slack,
        "{name}: healthy p50 latency {:?} beside the fault vs {:?}",
        with.p50,
        base.p50
    );
    Run {
        hub: b.hub.clone(),
        faulty_id,
        faulty_deliveries: b.faulty_deliveries.clone(),
        started,
        _sides: (a, b),
    }
}

async fn breaker(hub: &Hookbus) -> State {
    hub.endpoint_status("faulty").await.unwrap().1.breaker
}

/// The breaker opened, and while open it let through only its probes:
/// hits ≤ max_in_flight (the wave before it tripped) + one probe per reset timeout.
async fn assert_breaker_contains(run: &Run, rx: &FaultyReceiver) {
    let opened = eventually_async(Duration::from_secs(5), || async {
        breaker(&run.hub).await != State::Closed
    })
    .await;
    assert!(opened, "the breaker opened");
    let elapsed = run.started.elapsed().as_secs_f64() + 1.0;
    let bound = 16 + (elapsed / 0.5).ceil() as usize + 1;
    assert!(
        rx.count() <= bound,
        "{} attempts reached a failing receiver in {elapsed:.1}s (at most {bound})",
        rx.count()
    );
}

/// The first faulty delivery's attempts: all failed, retried, with this result label.
fn assert_attempts_failed_as(run: &Run, result: &str) {
    let attempts = run.hub.store().attempts(&run.faulty_deliveries[0]).unwrap();
    assert!(!attempts.is_empty());
    for a in &attempts {
        assert_eq!(a.result, result, "{a:?}");
        assert!(a.error.is_some(), "{a:?}");
    }
}

/// A fault every attempt fails on: retried with this result label, the
/// breaker opens and contains it, healthy endpoints do not notice.
async fn failing_fault(name: &str, fault: Fault, result: &str) {
    let _serial = SERIAL.lock().await;
    let rx = FaultyReceiver::start(fault);
    let run = isolation(name, faulty_spec(&rx.url)).await;
    assert_breaker_contains(&run, &rx).await;
    assert_attempts_failed_as(&run, result);
}

#[actix_web::test]
async fn a_slow_receiver_is_waited_for_without_slowing_others() {
    let _serial = SERIAL.lock().await;
    let rx = FaultyReceiver::start(Fault::Slow(Duration::from_secs(5)));
    let mut spec = faulty_spec(&rx.url);
    spec.timeout = "10s".parse().unwrap();
    let run = isolation("slow 5 s", spec).await;
    // Within its timeout a slow answer is a success: no failure, no breaker.
    let delivered = eventually_async(Duration::from_secs(10), || async {
        run.hub
            .endpoint_status("faulty")
            .await
            .unwrap()
            .1
            .stats
            .delivered
            > 0
    })
    .await;
    assert!(delivered);
    let (_, snap) = run.hub.endpoint_status(&run.faulty_id).await.unwrap();
    assert_eq!(snap.stats.failed, 0);
    assert_eq!(snap.breaker, State::Closed);
    assert!(snap.in_flight <= 16, "max_in_flight bounds a slow receiver");
}

#[actix_web::test]
async fn a_hanging_receiver_times_out_and_trips_the_breaker() {
    failing_fault("hanging", Fault::Hang, "timeout").await;
}

#[actix_web::test]
async fn connection_resets_are_retried_and_trip_the_breaker() {
    failing_fault("connection reset", Fault::Reset, "connect_error").await;
}

#[actix_web::test]
async fn a_500_storm_trips_the_breaker_without_slowing_others() {
    failing_fault("500 storm", Fault::Status(500, vec![]), "5xx").await;
}

#[actix_web::test]
async fn a_429_with_retry_after_is_honoured() {
    let _serial = SERIAL.lock().await;
    let rx = FaultyReceiver::start(Fault::Status(429, vec![("retry-after", "1".into())]));
    let mut spec = faulty_spec(&rx.url);
    // Watch Retry-After alone: the breaker would otherwise pause everything.
    spec.circuit_breaker.failure_threshold = 100_000;
    let run = isolation("429 + Retry-After: 1", spec).await;
    let mut by_id: HashMap<String, Vec<Instant>> = HashMap::new();
    for h in rx.hits() {
        by_id.entry(h.webhook_id.unwrap()).or_default().push(h.at);
    }
    let retried: Vec<_> = by_id.values().filter(|t| t.len() > 1).collect();
    assert!(!retried.is_empty(), "429s were retried");
    for times in retried {
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(950),
                "retried after {gap:?} despite Retry-After: 1 (schedule says 200 ms)"
            );
        }
    }
    assert_attempts_failed_as(&run, "4xx");
}

#[actix_web::test]
async fn garbage_answers_are_retried_and_trip_the_breaker() {
    failing_fault("garbage", Fault::Garbage, "connect_error").await;
}

#[actix_web::test]
async fn a_response_cut_short_is_retried_and_trips_the_breaker() {
    failing_fault(
        "closed mid-response",
        Fault::CloseMidResponse,
        "connect_error",
    )
    .await;
}
