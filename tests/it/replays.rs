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
