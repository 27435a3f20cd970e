//! Embedding: the example shop, the builder, a prefix mount, bridges, two engines in one process.

use std::time::Duration;

use hookbus::{Hookbus, PublishRequest};
use serde_json::{Value, json};

use crate::utils::*;

#[path = "../../examples/embedded.rs"]
#[allow(dead_code)]
mod example;

async fn get(url: &str) -> (u16, String) {
    let mut resp = awc::Client::new().get(url).send().await.unwrap();
    let body = resp.body().limit(16 << 20).await.unwrap();
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[actix_web::test]
async fn the_example_shop_delivers_orders_and_mounts_the_api_under_a_prefix() {
    let rx = TestReceiver::start(200);
    let dir = tempfile::tempdir().unwrap();
    let hub = Hookbus::builder()
        .data_dir(dir.path().join("shop-data"))
        .allow_networks(&["127.0.0.0/8"])
        .endpoint(hookbus::endpoint::spec::EndpointSpec::new(
            "fulfilment",
            &rx.url,
            &["order.*"],
        ))
        .metrics_handle(recorder())
        .start()
        .await
        .unwrap();
    let mut outcomes = hub.outcomes();
    example::watch_outcomes(&hub);
    let (addr, server) = example::start_shop("127.0.0.1:0", hub.clone(), recorder())
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let mut resp = awc::Client::new()
        .post(format!("{base}/orders"))
        .send_json(&json!({"sku": "tea", "qty": 2}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let body = got[0].json();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"]["sku"], "tea");
    assert_eq!(body["id"], created["event_id"]);
    let outcome = actix_rt::time::timeout(Duration::from_secs(5), outcomes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.kind, hookbus::OutcomeKind::Delivered);
    assert_eq!(outcome.event_id, created["event_id"].as_str().unwrap());
    assert_eq!(outcome.endpoint, "fulfilment");
    // A bad order body is the shop's own error, not hookbus's problem format.
    let mut resp = awc::Client::new()
        .post(format!("{base}/orders"))
        .insert_header(("content-type", "application/json"))
        .send_body("{broken")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_ne!(
        ct.as_deref(),
        Some("application/problem+json"),
        "{:?}",
        resp.body().await
    );

    let (s, endpoints) = get(&format!("{base}/hooks/v1/endpoints")).await;
    assert_eq!(s, 200);
    assert!(endpoints.contains("fulfilment"));
    let (s, _) = get(&format!("{base}/hooks/healthz")).await;
    assert_eq!(s, 200);
    let (s, page) = get(&format!("{base}/hooks/")).await;
    assert_eq!(s, 200);
    assert!(page.contains("<title>hookbus"));
    let (s, _) = get(&format!("{base}/v1/endpoints")).await;
    assert_eq!(s, 404, "only under the prefix");
    let (s, _) = get(&format!("{base}/hooks/metrics")).await;
    assert_eq!(s, 404, "left out: the shop serves its own");
    let (s, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(s, 200);
    assert!(
        text.contains(r#"hookbus_deliveries_total{endpoint="fulfilment",outcome="success"}"#),
        "{text}"
    );
    server.stop(true).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn two_engines_with_different_data_dirs_run_in_one_process() {
    let rx_a = TestReceiver::start(200);
    let rx_b = TestReceiver::start(200);
    let (a, _da) = start_hookbus(vec![endpoint("same-name", &rx_a.url, &[])]).await;
    let (b, _db) = start_hookbus(vec![endpoint("same-name", &rx_b.url, &[])]).await;
    a.publish(PublishRequest::new("from.a", json!({})))
        .await
        .unwrap();
    b.publish(PublishRequest::new("from.b", json!({})))
        .await
        .unwrap();
    b.publish(PublishRequest::new("from.b", json!({})))
        .await
        .unwrap();
    rx_a.wait_for(1, Duration::from_secs(5)).await;
    rx_b.wait_for(2, Duration::from_secs(5)).await;
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        (rx_a.count(), rx_b.count()),
        (1, 2),
        "each engine has its own store and endpoints"
    );
    assert_eq!(rx_a.received()[0].json()["type"], "from.a");
    a.shutdown().await;
    b.shutdown().await;
}

#[actix_web::test]
async fn bridges_publish_from_broadcast_and_mpsc_channels() {
    #[derive(Clone, Debug)]
    enum HostEvent {
        Placed(u64),
        Ignored,
    }
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("all", &rx.url, &[])]).await;
    let map = |e: HostEvent| match e {
        HostEvent::Placed(id) => Some(PublishRequest::new("order.placed", json!({ "id": id }))),
        HostEvent::Ignored => None,
    };
    let (btx, brx) = tokio::sync::broadcast::channel(16);
    let bridge = hookbus::bridge::from_broadcast(hub.clone(), brx, map);
    let (mtx, mrx) = tokio::sync::mpsc::channel(16);
    let mbridge = hookbus::bridge::from_mpsc(hub.clone(), mrx, map);
    btx.send(HostEvent::Placed(1)).unwrap();
    btx.send(HostEvent::Ignored).unwrap();
    mtx.send(HostEvent::Placed(2)).await.unwrap();
    mtx.send(HostEvent::Ignored).await.unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    let mut ids: Vec<i64> = got
        .iter()
        .map(|g| g.json()["data"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2]);
    drop(btx);
    drop(mtx);
    bridge.await.unwrap();
    mbridge.await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.count(), 2, "ignored events are not published");
    hub.shutdown().await;
}
