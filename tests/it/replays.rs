//! Replays and purges of more dead letters than one chunk (`bus::replays`):
//! each dead letter handled once, concurrent runs not overlapping, and
//! publishes answered between a replay's chunks instead of after all of it.

use std::collections::HashSet;
use std::time::Duration;

use hookbus::bus::dead_letters::DeadLetterFilter;
use hookbus::{Hookbus, PublishRequest};
use serde_json::json;

use crate::utils::*;

/// Thirteen chunks of `bus::replays::CHUNK` (192), and part of a fourteenth.
const N: usize = 2_600;

/// An endpoint whose receiver refused (404) all `N` events: `N` dead letters.
async fn dead_lettered() -> (Hookbus, tempfile::TempDir, TestReceiver) {
    let rx = TestReceiver::start(404);
    let (hub, dir) = start_hookbus(vec![endpoint("a", &rx.url, &[])]).await;
    for from in (0..N).step_by(100) {
        let batch = (from..(from + 100).min(N))
            .map(|i| PublishRequest::new("x.y", json!({ "i": i })))
            .collect();
        hub.publish_batch(batch).await.unwrap();
    }
    let all = eventually(Duration::from_secs(60), || {
        hub.store().dead_letters(N + 1).unwrap().len() == N
    })
    .await;
    assert!(
        all,
        "{} of {N} dead-lettered",
        hub.store().dead_letters(N + 1).unwrap().len()
    );
    (hub, dir, rx)
}

fn ids(found: &[hookbus::store::records::DeadLetter]) -> HashSet<String> {
    found.iter().map(|d| d.delivery_id.clone()).collect()
}

/// The receiver has taken `want` requests in all within 30 s, and no more
/// in the 300 ms after (a delivery re-opened twice would arrive twice).
async fn receives_exactly(rx: &TestReceiver, want: usize) {
    assert!(
        eventually(Duration::from_secs(30), || rx.count() >= want).await,
        "{} of {want}",
        rx.count()
    );
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), want);
}

#[actix_web::test]
async fn a_replay_of_many_chunks_requeues_every_dead_letter_once_while_publishes_go_on() {
    let (hub, _dir, rx) = dead_lettered().await;
    rx.set_default(Reply::status(200));
    let before = rx.count();
    let replay = actix_rt::spawn({
        let hub = hub.clone();
        async move {
            hub.replay_dead_letters(DeadLetterFilter::default(), false)
                .await
        }
    });
    // Once the first chunk is delivering, a publish is answered before the
    // last chunk is even read: it is planned between two chunks.
    while rx.count() == before {
        actix_rt::time::sleep(Duration::from_micros(100)).await;
    }
    hub.publish(PublishRequest::new("x.y", json!({"late": true})))
        .await
        .unwrap();
    assert!(
        !replay.is_finished(),
        "the publish waited for the whole replay"
    );
    let replayed = replay.await.unwrap().unwrap();
    assert_eq!(replayed.len(), N);
    assert_eq!(ids(&replayed).len(), N);
    receives_exactly(&rx, before + N + 1).await;
    assert!(hub.store().dead_letters(10).unwrap().is_empty());
    hub.shutdown().await;
}

#[actix_web::test]
async fn concurrent_replays_requeue_each_dead_letter_once() {
    let (hub, _dir, rx) = dead_lettered().await;
    rx.set_default(Reply::status(200));
    let before = rx.count();
    let all = || hub.replay_dead_letters(DeadLetterFilter::default(), false);
    let (a, b) = tokio::join!(all(), all());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), N, "{} + {}", a.len(), b.len());
    assert_eq!(ids(&a).union(&ids(&b)).count(), N);
    receives_exactly(&rx, before + N).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_dry_run_and_a_purge_of_many_chunks_see_every_dead_letter() {
    let (hub, _dir, _rx) = dead_lettered().await;
    let listed = hub
        .replay_dead_letters(DeadLetterFilter::default(), true)
        .await
        .unwrap();
    assert_eq!(ids(&listed).len(), N);
    let purged = hub
        .purge_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(ids(&purged), ids(&listed));
    assert!(hub.store().dead_letters(10).unwrap().is_empty());
    // Each endpoint's gauge hears of every chunk.
    let gauge = eventually_async(Duration::from_secs(5), || async {
        hub.endpoint_status("a").await.unwrap().1.dead_letters == 0
    })
    .await;
    assert!(gauge, "the endpoint still counts dead letters");
    hub.shutdown().await;
}

/// `POST /v1/dead-letters/replay {}` on `base`; how many it replayed.
async fn replay_all(base: &str) -> usize {
    let mut resp = awc::Client::new()
        .post(format!("{base}/v1/dead-letters/replay"))
        .timeout(Duration::from_secs(60))
        .send_json(&json!({}))
        .await
        .unwrap();
    let body = resp.body().limit(64 << 20).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    body["count"].as_u64().unwrap() as usize
}

/// Every dead letter's event id, through the API's pages.
async fn dead_events(api: &Api) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = api
            .call(
                "GET",
                &format!("/v1/dead-letters?limit=1000&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        for d in page["data"].as_array().unwrap() {
            out.insert(d["event_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return out,
        }
    }
}

/// Events a kill-midway run dead-letters and replays: 26 chunks.
pub const KILLED_EVENTS: usize = 5_000;

/// The endpoint `a` of a kill-midway run: every `x.*` event to `url`, one attempt.
pub fn one_attempt_endpoint(url: &str) -> String {
    format!(
        "[[endpoints]]\nname = \"a\"\nurl = \"{url}\"\nevents = [\"x.*\"]\nretry = {{ max_attempts = 1 }}\n"
    )
}

/// Publish `KILLED_EVENTS` to a server whose endpoint `a` refuses them all
/// (`rx` answers 404), wait until each is a dead letter, fix the receiver,
/// and send `POST /v1/dead-letters/replay {}` without waiting for its
/// answer. Returns the event ids and `rx`'s count before the replay, once
/// the first replayed delivery has arrived: the first chunk is committed,
/// the last not yet read — the moment to kill the server.
pub async fn replay_until_first_delivery(api: &Api, rx: &TestReceiver) -> (HashSet<String>, usize) {
    let mut events = HashSet::new();
    for from in (0..KILLED_EVENTS).step_by(100) {
        let batch: Vec<_> = (from..from + 100)
            .map(|i| json!({"type": "x.y", "data": {"i": i}}))
            .collect();
        let (s, b) = api
            .call("POST", "/v1/events/batch", Some(json!({ "events": batch })))
            .await;
        assert_eq!(s, 202, "{b}");
        for r in b["events"].as_array().unwrap() {
            events.insert(r["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(events.len(), KILLED_EVENTS);
    let all_dead = eventually_async(Duration::from_secs(60), || async {
        let (_, stats) = api.call("GET", "/v1/endpoints/a/stats", None).await;
        stats["dead_letters"] == KILLED_EVENTS
    })
    .await;
    assert!(all_dead, "the refusals were not all dead-lettered");
    rx.set_default(Reply::status(200));
    let refused = rx.count();
    let base = api.base().to_string();
    actix_rt::spawn(async move {
        let _ = awc::Client::new()
            .post(format!("{base}/v1/dead-letters/replay"))
            .send_json(&json!({}))
            .await;
    });
    while rx.count() == refused {
        actix_rt::time::sleep(Duration::from_micros(100)).await;
    }
    (events, refused)
}

/// After the kill and a restart: each event delivered or still a dead
/// letter, never both, never neither, some of each; then replaying again
/// delivers the rest.
pub async fn each_replayed_or_still_dead(
    api: &Api,
    rx: &TestReceiver,
    events: &HashSet<String>,
    refused: usize,
) {
    // What the committed chunks re-queued is delivered after the restart.
    let settled = eventually_async(Duration::from_secs(30), || async {
        let (_, stats) = api.call("GET", "/v1/endpoints/a/stats", None).await;
        stats["queue_depth"] == 0 && stats["in_flight"] == 0
    })
    .await;
    assert!(settled, "the re-queued deliveries did not drain");
    let delivered = |rx: &TestReceiver| -> HashSet<String> {
        rx.received()[refused..]
            .iter()
            .filter_map(|r| r.header("webhook-id").map(String::from))
            .collect()
    };
    let dead = dead_events(api).await;
    let sent = delivered(rx);
    assert!(sent.is_disjoint(&dead), "replayed and still a dead letter");
    assert_eq!(
        sent.len() + dead.len(),
        KILLED_EVENTS,
        "{} delivered + {} dead",
        sent.len(),
        dead.len()
    );
    assert!(
        !dead.is_empty() && !sent.is_empty(),
        "the kill did not land mid-replay ({} delivered)",
        sent.len()
    );
    // The rest is replayed by running the same replay again.
    assert_eq!(replay_all(api.base()).await, dead.len());
    let all = eventually(Duration::from_secs(30), || {
        delivered(rx).len() == KILLED_EVENTS
    })
    .await;
    assert!(all, "{} of {KILLED_EVENTS} delivered", delivered(rx).len());
    assert_eq!(&delivered(rx), events);
}

#[actix_web::test]
async fn a_replay_killed_midway_leaves_each_dead_letter_replayed_or_still_dead() {
    if crate::utils::backend::on_jetstream() {
        return; // kills its own embedded server; `cluster_nodes` has the node's
    }
    let rx = TestReceiver::start(404);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::write(dir.path(), &one_attempt_endpoint(&rx.url));
    // Each of the 5,000 dead letters would log a warning.
    let quiet = || server.command().env("RUST_LOG", "error").spawn().unwrap();
    let mut child = Running(quiet());
    wait_healthy(&server.base).await;
    let api = Api::new(server.base.clone());
    let (events, refused) = replay_until_first_delivery(&api, &rx).await;
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let _child = Running(quiet());
    wait_healthy(&server.base).await;
    each_replayed_or_still_dead(&api, &rx, &events, refused).await;
}
