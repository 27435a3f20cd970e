//! Many closed-loop publishers at once. Issue #22 measured publish p99 at
//! 204 ms (p50 22 ms) with 200 of them against a slow receiver; here the
//! same crowd runs against a receiver answering at once (baseline) and one
//! taking 50 ms per delivery, in the same run.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::support::*;
use super::{IN_FLIGHT, scale, single_event_body};

const PUBLISHERS: usize = 200;

/// Every publish's time to its answer, and how many were 202 / 503 / other.
#[derive(Default)]
pub struct Tally {
    pub times: Vec<Duration>,
    pub accepted: u64,
    pub pushed_back: u64,
    pub other: u64,
}

/// `publishers` keep-alive publishers, each sending one single-event
/// `POST /v1/events` at a time, until `window` has passed.
pub async fn closed_loop(base: &str, publishers: usize, window: Duration) -> (Tally, Duration) {
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish();
    let body = single_event_body();
    let tally = Rc::new(RefCell::new(Tally::default()));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..publishers)
        .map(|_| {
            let (client, url, body, tally) = (
                client.clone(),
                format!("{base}/v1/events"),
                body.clone(),
                tally.clone(),
            );
            actix_rt::spawn(async move {
                while t0.elapsed() < window {
                    let t = Instant::now();
                    let mut resp = client
                        .post(&url)
                        .insert_header(("content-type", "application/json"))
                        .send_body(body.clone())
                        .await
                        .unwrap();
                    // Read to the end: awc pools a connection only once its body is read.
                    let _ = resp.body().await;
                    let mut tally = tally.borrow_mut();
                    tally.times.push(t.elapsed());
                    match resp.status().as_u16() {
                        202 => tally.accepted += 1,
                        503 => tally.pushed_back += 1,
                        _ => tally.other += 1,
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = t0.elapsed();
    (Rc::try_unwrap(tally).ok().unwrap().into_inner(), elapsed)
}

/// 200 closed-loop single-event publishers for 5 s, receiver fast then slow.
pub async fn crowd_latency() {
    println!(
        "{:<26} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "receiver", "202/s", "503/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (label, delay_ms) in [("answers at once", 0), ("answers in 50 ms", 50)] {
        let sink = Sink::start();
        sink.state
            .delay_ms
            .store(delay_ms, std::sync::atomic::Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "[[endpoints]]\nname = \"r\"\nurl = \"{}\"\nevents = [\"*\"]\nmax_in_flight = {IN_FLIGHT}\n",
            sink.url
        );
        let server = Server::start("crowd", dir.path(), &toml);
        let window = Duration::from_secs_f64(5.0 * scale().max(0.2));
        let (mut tally, elapsed) = closed_loop(&server.base, PUBLISHERS, window).await;
        assert_eq!(tally.other, 0, "publishes answered neither 202 nor 503");
        tally.times.sort();
        let ms = |p| pct(&tally.times, p).as_secs_f64() * 1e3;
        println!(
            "{:<26} {:>8.0} {:>8.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            label,
            tally.accepted as f64 / elapsed.as_secs_f64(),
            tally.pushed_back as f64 / elapsed.as_secs_f64(),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            ms(1.0)
        );
    }
}
