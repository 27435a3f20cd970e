//! The endpoint test send goes through the real pipeline: format or
//! transform, redaction, every secret still signing; kept in history as a
//! test, outside the stats.

use std::time::Duration;

use serde_json::{Value, json};

use crate::utils::*;

const FIRST: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECOND: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

#[actix_web::test]
async fn a_test_send_to_a_slack_endpoint_sends_the_slack_body_signed_with_every_active_secret() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    api.create_endpoint(json!({"name": "chat", "url": rx.url, "format": "slack",
                               "signing": {"secrets": [FIRST, SECOND]}}))
        .await;
    // Both secrets retire (still signing for an hour); a new one signs too.
    let (s, rotated) = api
        .call(
            "POST",
            "/v1/endpoints/chat/rotate-secret",
            Some(json!({"grace": "1h"})),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let newest = rotated["secret"].as_str().unwrap().to_string();

    let (s, attempt) = api.call("POST", "/v1/endpoints/chat/test", None).await;
    assert_eq!(s, 200, "{attempt}");
    assert_eq!(attempt["success"], true, "{attempt}");
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let body = got[0].json();
    // What the built-in Slack format makes of hookbus.test, not the raw event.
    assert_eq!(
        body["text"],
        format!("hookbus.test: {}", attempt["event_id"].as_str().unwrap())
    );
    assert_eq!(body["blocks"][0]["text"]["text"], "hookbus.test");
    assert!(body.get("data").is_none(), "{body}");
    for secret in [FIRST, SECOND, newest.as_str()] {
        assert!(got[0].signed_by(secret), "not signed by {secret}");
    }
    assert_eq!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        3
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_test_send_runs_the_endpoint_transform_on_the_redacted_event() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    let script = r#"fn transform(event) { #{ kind: event.type, note: event.data.message, to: event.data.endpoint_id } }"#;
    let created = api
        .create_endpoint(
            json!({"name": "shaped", "url": rx.url, "redact": ["data.message"],
                                "transform": {"script": script}}),
        )
        .await;
    let secret = created["signing"]["secrets"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (_, attempt) = api.call("POST", "/v1/endpoints/shaped/test", None).await;
    assert_eq!(attempt["success"], true, "{attempt}");
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].json(),
        json!({"kind": "hookbus.test", "note": "[REDACTED]", "to": created["id"]})
    );
    assert!(got[0].signed_by(&secret));
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_test_send_is_in_the_history_marked_as_a_test_and_outside_the_stats() {
    let rx = TestReceiver::start(500);
    let (hub, _dir, api) = start_with_api().await;
    api.create_endpoint(json!({"name": "t", "url": rx.url,
                               "circuit_breaker": {"failure_threshold": 1}}))
        .await;
    let (_, attempt) = api.call("POST", "/v1/endpoints/t/test", None).await;
    assert_eq!(
        (&attempt["success"], &attempt["status_code"]),
        (&json!(false), &json!(500))
    );
    let dlv = attempt["delivery_id"].as_str().unwrap();
    let (s, d) = api
        .call("GET", &format!("/v1/deliveries/{dlv}"), None)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["test"], true);
    assert_eq!(d["event_id"], attempt["event_id"]);
    assert_eq!(d["attempt_history"].as_array().unwrap().len(), 1);
    assert_eq!(d["attempt_history"][0]["status_code"], 500);
    let (_, listed) = api.call("GET", "/v1/endpoints/t/deliveries", None).await;
    assert_eq!(listed["data"][0]["id"], dlv);
    // Not retried, not dead-lettered, no effect on the breaker or the stats.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
    let (_, dead) = api.call("GET", "/v1/dead-letters", None).await;
    assert_eq!(dead["data"], json!([]));
    let (_, stats) = api.call("GET", "/v1/endpoints/t/stats", None).await;
    assert_eq!(
        (&stats["attempts"], &stats["dead"]),
        (&json!(0), &json!(0)),
        "{stats}"
    );
    assert_eq!(stats["breaker"], "closed", "{stats}");
    hub.shutdown().await;
}

#[actix_web::test]
async fn a_test_send_a_script_skips_sends_nothing_and_says_so() {
    let rx = TestReceiver::start(200);
    let (hub, _dir, api) = start_with_api().await;
    api.create_endpoint(json!({"name": "f", "url": rx.url,
        "transform": {"script": "fn transform(event) { if event.type == \"hookbus.test\" { return (); } event }"}}))
        .await;
    let (_, attempt): (u16, Value) = api.call("POST", "/v1/endpoints/f/test", None).await;
    assert_eq!(
        (&attempt["success"], &attempt["filtered"]),
        (&json!(false), &json!(true)),
        "{attempt}"
    );
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 0);
    hub.shutdown().await;
}
