//! Publishes while a large dead-letter replay runs. Issue #22 measured a
//! 20,000-entry replay stalling concurrent publishes up to 0.33 s: the bus
//! read and re-opened every entry in one turn and committed them as one
//! batch. Baseline: the same publisher, same server, just before the replay.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::support::*;
use super::{IN_FLIGHT, publish_all, scaled, wait_count};

/// One publisher, one single-event publish at a time, until `stop`; every
/// publish's time to its 202.
async fn publish_loop(base: String, stop: Rc<RefCell<bool>>) -> Vec<Duration> {
    let debug = std::env::var_os("HOOKBUS_BENCH_DEBUG").is_some();
    let start = Instant::now();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let mut times = Vec::new();
    while !*stop.borrow() {
        let t = Instant::now();
        let mut resp = client
            .post(format!("{base}/v1/events"))
            .send_json(&serde_json::json!({"type": "live.ping", "data": {"n": times.len()}}))
            .await
            .unwrap();
        let _ = resp.body().await;
        assert_eq!(resp.status(), 202);
        times.push(t.elapsed());
        if debug && t.elapsed() > Duration::from_millis(5) {
            println!(
                "  slow publish: sent at {:.1} ms, took {:.1} ms",
                t.duration_since(start).as_secs_f64() * 1e3,
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    times
}

fn summary(xs: &mut [Duration]) -> String {
    xs.sort();
    format!(
        "{:>7} publishes, p50 {:>6.2} ms, p99 {:>7.2} ms, max {:>7.2} ms",
        xs.len(),
        pct(xs, 0.5).as_secs_f64() * 1e3,
        pct(xs, 0.99).as_secs_f64() * 1e3,
        pct(xs, 1.0).as_secs_f64() * 1e3
    )
}

/// `scaled(20_000)` deliveries dead-lettered by a refusing receiver, which
/// is then fixed; a closed-loop publisher to another endpoint runs for 1 s
/// (baseline), then while `POST /v1/dead-letters/replay` replays them all.
pub async fn replay_stall() {
    let receiver = Sink::answering(400);
    let live = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[[endpoints]]\nname = \"fixed\"\nurl = \"{}\"\nevents = [\"bench.*\"]\nmax_in_flight = {IN_FLIGHT}\nretry = {{ max_attempts = 1 }}\n\
         [[endpoints]]\nname = \"live\"\nurl = \"{}\"\nevents = [\"live.*\"]\nmax_in_flight = {IN_FLIGHT}\n",
        receiver.url, live.url
    );
    let server = Server::start("replay", dir.path(), &toml);
    let n = scaled(20_000);
    publish_all(&server.base, n).await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(600))
        .finish();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut resp = client
            .get(format!("{}/v1/endpoints/fixed/stats", server.base))
            .send()
            .await
            .unwrap();
        let stats: serde_json::Value = resp.json().await.unwrap();
        if stats["dead_letters"] == n {
            break;
        }
        assert!(Instant::now() < deadline, "dead letters did not arrive");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    receiver.state.status.store(200, Ordering::SeqCst);
    receiver.reset(false);

    let stop = Rc::new(RefCell::new(false));
    let baseline = actix_rt::spawn(publish_loop(server.base.clone(), stop.clone()));
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    *stop.borrow_mut() = true;
    let mut baseline = baseline.await.unwrap();

    *stop.borrow_mut() = false;
    let during = actix_rt::spawn(publish_loop(server.base.clone(), stop.clone()));
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    // The replay's client on its own thread: reading and parsing its
    // answer (every dead letter listed) must not delay the publisher's.
    let base = server.base.clone();
    let t0 = Instant::now();
    let replay = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(600))
                .finish();
            let mut resp = client
                .post(format!("{base}/v1/dead-letters/replay"))
                .send_json(&serde_json::json!({}))
                .await
                .unwrap();
            let body = resp.body().limit(64 << 20).await.unwrap();
            let answered = t0.elapsed();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (resp.status(), body["count"].as_u64(), answered)
        })
    });
    while !replay.is_finished() {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let (status, count, answered) = replay.join().unwrap();
    assert_eq!((status.as_u16(), count), (200, Some(n)));
    *stop.borrow_mut() = true;
    let mut during = during.await.unwrap();
    let delivered = wait_count(&receiver, n, Duration::from_secs(600)).await;
    println!(
        "replay of {n} dead letters answered in {:.3} s; all {n} delivered {:.2} s after it began",
        answered.as_secs_f64(),
        delivered.duration_since(t0).as_secs_f64()
    );
    println!("before the replay   {}", summary(&mut baseline));
    println!("during the replay   {}", summary(&mut during));
}
