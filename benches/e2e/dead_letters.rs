//! Dead-letter queries at scale: a page of one endpoint, its next page, an
//! all-endpoint page and `since` queries, with 1 M dead letters over 100
//! endpoints (at scale 1).

use std::time::{Duration, Instant};

use super::support::*;
use super::{IN_FLIGHT, publish_all, scaled};

/// Time one GET (the body read too), in ms.
async fn timed_get(client: &awc::Client, url: &str) -> (f64, serde_json::Value) {
    let t = Instant::now();
    let mut resp = client.get(url).send().await.unwrap();
    let body = resp.body().limit(64 << 20).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    (
        t.elapsed().as_secs_f64() * 1000.0,
        serde_json::from_slice(&body).unwrap(),
    )
}

/// `scaled(10_000)` events fanned out to 100 endpoints whose receiver
/// refuses everything (1 M dead letters at scale 1); then the time of one
/// endpoint's page, its next page, and `since` queries, each the median of
/// 20 requests.
pub async fn dead_letter_queries() {
    let refusing = Sink::answering(400);
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    for i in 0..100 {
        toml.push_str(&format!(
            "[[endpoints]]\nname = \"ep{i}\"\nurl = \"{}?ep={i}\"\nevents = [\"bench.*\"]\nmax_in_flight = {IN_FLIGHT}\nretry = {{ max_attempts = 1 }}\n",
            refusing.url
        ));
    }
    let server = Server::start("dead-letters", dir.path(), &toml);
    let events = scaled(10_000);
    let t0 = Instant::now();
    publish_all(&server.base, events).await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(600))
        .finish();
    // Every endpoint's dead-letter gauge at `events`.
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let (_, stats) =
            timed_get(&client, &format!("{}/v1/endpoints/ep99/stats", server.base)).await;
        let (_, first) =
            timed_get(&client, &format!("{}/v1/endpoints/ep0/stats", server.base)).await;
        if stats["dead_letters"] == events && first["dead_letters"] == events {
            break;
        }
        assert!(Instant::now() < deadline, "dead letters did not arrive");
        actix_rt::time::sleep(Duration::from_millis(500)).await;
    }
    let all_dead = std::time::SystemTime::now();
    println!(
        "{} dead letters in {:.1} s",
        events * 100,
        t0.elapsed().as_secs_f64()
    );
    let recent =
        humantime::format_rfc3339_millis(all_dead - Duration::from_millis(300)).to_string();
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let base = &server.base;
    let (_, page) = timed_get(
        &client,
        &format!("{base}/v1/dead-letters?endpoint=ep42&limit=100"),
    )
    .await;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
    let (_, last) = timed_get(&client, &format!("{base}/v1/dead-letters?limit=1000")).await;
    let dead_at = last["data"][0]["dead_at"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let queries = [
        (
            "one endpoint's first page (100)",
            format!("{base}/v1/dead-letters?endpoint=ep42&limit=100"),
        ),
        (
            "its next page (cursor)",
            format!("{base}/v1/dead-letters?endpoint=ep42&limit=100&cursor={cursor}"),
        ),
        (
            "all endpoints, first page (100)",
            format!("{base}/v1/dead-letters?limit=100"),
        ),
        (
            "since = 300 ms before the last death (100)",
            format!("{base}/v1/dead-letters?limit=100&since={recent}"),
        ),
        (
            "one endpoint, since (100)",
            format!("{base}/v1/dead-letters?endpoint=ep42&limit=100&since={dead_at}"),
        ),
    ];
    println!("{:<44} {:>12}", "query", "median ms");
    for (name, url) in queries {
        let mut times = Vec::new();
        for _ in 0..20 {
            times.push(timed_get(&client, &url).await.0);
        }
        println!("{name:<44} {:>12.2}", median(times));
    }
}
