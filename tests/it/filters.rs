//! Payload filters on subscriptions: checked at save with locations,
//! evaluated before any delivery exists, counted when they turn an event away.

use std::time::Duration;

use serde_json::{Value, json};

use crate::utils::*;

#[actix_web::test]
async fn a_filtered_out_event_makes_no_delivery_and_is_counted() {
    let metrics = recorder();
    let (hub, _dir, api) = start_with_api().await;
    let (rx_big, rx_all) = (TestReceiver::start(200), TestReceiver::start(200));
    api.create_endpoint(
        json!({"name": "filter-big-orders", "url": rx_big.url, "events": ["order.*"],
        "filter": {"path": "/data/amount", "op": "gte", "value": 100}}),
    )
    .await;
    let all = api
        .create_endpoint(
            json!({"name": "filter-all-orders", "url": rx_all.url, "events": ["order.*"]}),
        )
        .await;
    let publish = |amount: i64| {
        let api = &api;
        async move {
            let (s, r) = api
                .call(
                    "POST",
                    "/v1/events",
                    Some(json!({"type": "order.created", "data": {"amount": amount}})),
                )
                .await;
            assert_eq!(s, 202, "{r}");
            r
        }
    };
    let small = publish(50).await;
    let ids: Vec<&Value> = small["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["endpoint_id"])
        .collect();
    assert_eq!(ids, [&all["id"]], "no delivery for the filtered endpoint");
    publish(150).await;
    assert_eq!(
        rx_big.wait_for(1, Duration::from_secs(5)).await[0].json()["data"]["amount"],
        150
    );
    rx_all.wait_for(2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx_big.count(), 1);
    // Not in its history; counted in its stats and in /metrics.
    let (_, page) = api
        .call("GET", "/v1/endpoints/filter-big-orders/deliveries", None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let (_, stats) = api
        .call("GET", "/v1/endpoints/filter-big-orders/stats", None)
        .await;
    assert_eq!(stats["filtered_out"], 1, "{stats}");
    assert_eq!(
        stats["filtered"], 0,
        "filtered by a transform is another count"
    );
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l == "hookbus_events_filtered_out_total{endpoint=\"filter-big-orders\"} 1"),
        "{}",
        text.lines()
            .filter(|l| l.contains("filtered_out"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn the_filtered_out_count_is_kept_across_a_restart() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("counted", &rx.url, &["a.*"]);
    spec.filter = Some(hookbus::model::filter::FilterSpec(
        json!({"path": "/data/n", "op": "gt", "value": 1}),
    ));
    let (hub, dir) = start_hookbus(vec![spec]).await;
    for n in 0..4 {
        hub.publish(hookbus::PublishRequest::new("a.b", json!({"n": n})))
            .await
            .unwrap();
    }
    rx.wait_for(2, Duration::from_secs(5)).await;
    let cfg = hub.config().clone();
    // A clean shutdown writes the count at once (a crash may lose its last second).
    hub.shutdown().await;
    drop(hub);
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let (_, snap) = hub.endpoint_status("counted").await.unwrap();
    assert_eq!((snap.stats.filtered_out, snap.stats.delivered), (2, 2));
    hub.shutdown().await;
    drop(dir);
}

#[actix_web::test]
async fn operators_and_groups_select_events_end_to_end() {
    let (hub, _dir, api) = start_with_api().await;
    let rx = TestReceiver::start(200);
    // Each endpoint's filter, and which of the events below it should get.
    let cases: Vec<(&str, Value, Vec<u64>)> = vec![
        (
            "eq",
            json!({"path": "/data/country", "op": "eq", "value": "DE"}),
            vec![1, 3],
        ),
        (
            "ne",
            json!({"path": "/data/country", "op": "ne", "value": "DE"}),
            vec![2, 4],
        ),
        (
            "gt",
            json!({"path": "/data/amount", "op": "gt", "value": 100}),
            vec![3],
        ),
        (
            "lte",
            json!({"path": "/data/amount", "op": "lte", "value": 100}),
            vec![1, 2, 4],
        ),
        (
            "in",
            json!({"path": "/data/country", "op": "in", "value": ["US", "FR"]}),
            vec![2],
        ),
        (
            "exists",
            json!({"path": "/metadata/vip", "op": "exists"}),
            vec![4],
        ),
        (
            "prefix",
            json!({"path": "/data/sku", "op": "prefix", "value": "AB-"}),
            vec![1, 4],
        ),
        (
            "and-not",
            json!({"and": [
            {"path": "/data/amount", "op": "gte", "value": 50},
            {"not": {"path": "/data/country", "op": "eq", "value": "US"}}]}),
            vec![1, 3],
        ),
        (
            "or",
            json!({"or": [
            {"path": "/type", "op": "eq", "value": "order.refunded"},
            {"path": "/data/amount", "op": "lt", "value": 20}]}),
            vec![2, 4],
        ),
    ];
    for (name, filter, _) in &cases {
        api.create_endpoint(json!({"name": name, "url": format!("{}/{name}", rx.url),
            "events": ["order.*"], "filter": filter}))
            .await;
    }
    let events = [
        (
            1,
            "order.created",
            json!({"country": "DE", "amount": 50, "sku": "AB-1"}),
            json!({}),
        ),
        (
            2,
            "order.created",
            json!({"country": "US", "amount": 10}),
            json!({}),
        ),
        (
            3,
            "order.created",
            json!({"country": "DE", "amount": 500}),
            json!({}),
        ),
        (
            4,
            "order.refunded",
            json!({"amount": 5, "sku": "AB-9"}),
            json!({"vip": true}),
        ),
    ];
    let mut expected = 0;
    for (n, t, mut data, meta) in events {
        data["n"] = json!(n);
        let (s, r) = api
            .call(
                "POST",
                "/v1/events",
                Some(json!({"type": t, "data": data, "metadata": meta})),
            )
            .await;
        assert_eq!(s, 202, "{r}");
        expected += r["deliveries"].as_array().unwrap().len();
    }
    assert_eq!(expected, cases.iter().map(|c| c.2.len()).sum::<usize>());
    for (name, _, want) in &cases {
        let (_, page) = api
            .call("GET", &format!("/v1/endpoints/{name}/deliveries"), None)
            .await;
        let mut got: Vec<u64> = Vec::new();
        for d in page["data"].as_array().unwrap() {
            let ev = hub
                .store()
                .event(d["event_id"].as_str().unwrap())
                .unwrap()
                .unwrap();
            got.push(ev.event.data["n"].as_u64().unwrap());
        }
        got.sort_unstable();
        assert_eq!(&got, want, "{name}");
    }
    rx.wait_for(expected, Duration::from_secs(10)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn invalid_filters_are_refused_with_their_location() {
    let (hub, _dir, api) = start_with_api().await;
    let (s, p) = api
        .call(
            "POST",
            "/v1/endpoints",
            Some(
                json!({"name": "x", "url": "http://127.0.0.1:9/", "filter": {"and": [
                    {"path": "/data/a", "op": "eq", "value": 1},
                    {"path": "/data/a", "op": "between", "value": 1},
                    {"path": "data/a", "op": "in", "value": 1}
                ]}}),
            ),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let locs = error_locs(&p);
    assert_eq!(
        locs,
        [
            "filter.and[1].op",
            "filter.and[2].path",
            "filter.and[2].value"
        ],
        "{p}"
    );
    // A PATCH is checked the same way; a good filter can be set and removed.
    api.create_endpoint(json!({"name": "y", "url": "http://127.0.0.1:9/"}))
        .await;
    let (s, p) = api
        .call(
            "PATCH",
            "/v1/endpoints/y",
            Some(json!({"filter": {"not": []}})),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["loc"], "filter.not");
    let (s, p) = api
        .call(
            "PATCH",
            "/v1/endpoints/y",
            Some(json!({"filter": {"path": "/id", "op": "exists"}})),
        )
        .await;
    assert_eq!(
        (s, p["filter"]["op"].clone()),
        (200, json!("exists")),
        "{p}"
    );
    let (s, p) = api
        .call("PATCH", "/v1/endpoints/y", Some(json!({"filter": null})))
        .await;
    assert_eq!(s, 200);
    assert!(p.get("filter").is_none(), "{p}");
    hub.shutdown().await;
}
