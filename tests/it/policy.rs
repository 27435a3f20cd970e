//! Delivery policy: auto-disable and operational `hookbus.*` events.

use std::time::Duration;

use hookbus::PublishRequest;
use hookbus::endpoint::spec::Status;
use serde_json::json;

use crate::utils::*;

fn ops_events(rx: &TestReceiver) -> Vec<serde_json::Value> {
    rx.received().iter().map(|r| r.json()).collect()
}

/// Whether endpoint `name` reaches `status` within `within`.
async fn reaches(hub: &hookbus::Hookbus, name: &str, status: Status, within: Duration) -> bool {
    eventually_async(within, || async {
        hub.endpoint_status(name).await.unwrap().0.spec.status == status
    })
    .await
}

#[actix_web::test]
async fn a_410_disables_the_endpoint_at_once_and_announces_it() {
    let gone = TestReceiver::start(410);
    let watcher = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![
        endpoint("gone", &gone.url, &["order.*"]),
        endpoint("watcher", &watcher.url, &["hookbus.**"]),
    ])
    .await;
    hub.publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    gone.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        reaches(&hub, "gone", Status::Disabled, Duration::from_millis(2000)).await,
        "410 disables the endpoint"
    );
    assert!(
        eventually(Duration::from_secs(5), || {
            ops_events(&watcher).iter().any(|e| {
                e["type"] == "hookbus.endpoint.disabled" && e["data"]["endpoint"] == "gone"
            })
        })
        .await
    );
    let r = hub
        .publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    assert!(
        r.deliveries.is_empty(),
        "disabled endpoints get no new deliveries"
    );
    // Re-declaring it unchanged does not undo the disable (a restart must not
    // quietly re-enable a failing endpoint); resuming does.
    hub.upsert_endpoint(endpoint("gone", &gone.url, &["order.*"]))
        .await
        .unwrap();
    assert!(reaches(&hub, "gone", Status::Disabled, Duration::from_millis(100)).await);
    let (record, _) = hub.endpoint_status("gone").await.unwrap();
    let mut spec = record.spec.clone();
    spec.status = Status::Active;
    hub.update_endpoint("gone", spec).await.unwrap();
    let r = hub
        .publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    assert_eq!(r.deliveries.len(), 1, "resumed");
    hub.shutdown().await;
}

#[actix_web::test]
async fn failing_longer_than_disable_after_disables_the_endpoint() {
    let down = TestReceiver::start(503);
    let mut spec = endpoint("down", &down.url, &[]);
    spec.retry = quick_retry(100);
    spec.circuit_breaker.failure_threshold = 1000;
    spec.disable_after = "300ms".parse().unwrap();
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    hub.publish(PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    assert!(
        reaches(&hub, "down", Status::Disabled, Duration::from_millis(3000)).await,
        "no success for disable_after → disabled"
    );
    let attempts = down.count();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert!(
        down.count() <= attempts + 1,
        "a disabled endpoint stops attempting"
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn operational_events_report_circuits_dead_letters_and_recoveries_but_never_to_their_subject()
{
    let flaky = TestReceiver::start(200);
    flaky.script(vec![Reply::status(503), Reply::status(503)]);
    let rejecting = TestReceiver::start(400);
    let watcher = TestReceiver::start(200);
    let mut f = endpoint("flaky", &flaky.url, &["order.*"]);
    f.circuit_breaker.failure_threshold = 2;
    f.circuit_breaker.reset_timeout = "200ms".parse().unwrap();
    // `self-aware` subscribes to everything, operational events included.
    let (hub, _dir) = start_hookbus(vec![
        f,
        endpoint("self-aware", &rejecting.url, &["**", "hookbus.**"]),
        endpoint("watcher", &watcher.url, &["hookbus.**"]),
    ])
    .await;
    hub.publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    let want = [
        ("hookbus.endpoint.circuit_opened", "flaky"),
        ("hookbus.endpoint.circuit_closed", "flaky"),
        ("hookbus.delivery.recovered", "flaky"),
        ("hookbus.delivery.dead_lettered", "self-aware"),
    ];
    let all_seen = eventually(Duration::from_secs(10), || {
        let got = ops_events(&watcher);
        want.iter().all(|(t, ep)| {
            got.iter()
                .any(|e| e["type"] == *t && e["data"]["endpoint"] == *ep)
        })
    })
    .await;
    assert!(
        all_seen,
        "watcher got: {:?}",
        ops_events(&watcher)
            .iter()
            .map(|e| e["type"].clone())
            .collect::<Vec<_>>()
    );
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    let to_self: Vec<_> = rejecting
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|e| e["data"]["endpoint"] == "self-aware")
        .collect();
    assert!(
        to_self.is_empty(),
        "an endpoint never receives events about itself: {to_self:?}"
    );
    assert!(
        ops_events(&flaky)
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("hookbus.")),
        "operational events need an explicit hookbus. pattern"
    );
    hub.shutdown().await;
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            files_contain(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[actix_web::test]
async fn secrets_are_encrypted_at_rest_and_need_the_master_key() {
    let rx = TestReceiver::start(200);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let token = "bearer-token-that-must-not-hit-disk";
    let (mut cfg, dir) = test_config();
    cfg.storage.master_key = Some(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [42u8; 32],
    ));
    let mut spec = endpoint("sealed", &rx.url, &[]);
    spec.signing.secrets = vec![secret.into()];
    spec.auth = hookbus::endpoint::spec::Auth::Bearer {
        token: token.into(),
    };
    cfg.endpoints = vec![spec];
    {
        let hub = hookbus::Hookbus::start(cfg.clone()).await.unwrap();
        hub.shutdown().await;
    }
    assert!(
        !files_contain(dir.path(), secret.as_bytes()),
        "signing secret found in plaintext on disk"
    );
    assert!(
        !files_contain(dir.path(), token.as_bytes()),
        "auth token found in plaintext on disk"
    );

    // Same key: secrets come back and sign.
    cfg.endpoints.clear();
    let hub = hookbus::Hookbus::start(cfg.clone()).await.unwrap();
    hub.publish(PublishRequest::new("a.b", json!({})))
        .await
        .unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    let ok = hookbus::sign::verify(
        hookbus::sign::Scheme::Standard,
        secret,
        got[0].header("webhook-id").unwrap(),
        got[0].header("webhook-timestamp").unwrap().parse().unwrap(),
        &got[0].body,
        got[0].header("webhook-signature").unwrap(),
    )
    .unwrap();
    assert!(ok);
    hub.shutdown().await;
    drop(hub);

    // Another key cannot open them.
    cfg.storage.master_key = Some(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [7u8; 32],
    ));
    let err = hookbus::Hookbus::start(cfg)
        .await
        .err()
        .expect("a wrong master key must not start");
    assert!(err.to_string().contains("wrong master key"), "{err}");
}
