//! hookbus inside a host's actix-web app: the host's routes keep their own
//! extractors, outcomes arrive in-process (and a slow listener only lags
//! itself), publishes and attempts are spans, and trace context reaches
//! receivers.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use hookbus::{OutcomeKind, PublishRequest};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::utils::*;

#[derive(serde::Deserialize)]
struct HostOrder {
    #[allow(dead_code)]
    sku: String,
}

async fn host_orders(_: web::Json<HostOrder>) -> HttpResponse {
    HttpResponse::Ok().body("host ok")
}

/// The host's own JSON settings: a tiny limit and its own error text.
fn host_json() -> web::JsonConfig {
    web::JsonConfig::default().limit(64).error_handler(|e, _| {
        actix_web::error::InternalError::from_response(
            e,
            HttpResponse::BadRequest()
                .content_type("text/plain")
                .body("host says: bad order"),
        )
        .into()
    })
}

#[actix_web::test]
async fn a_host_app_keeps_its_own_extractors_beside_hookbus_in_a_scope() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let h = hub.clone();
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(host_json())
            .route("/orders", web::post().to(host_orders))
            .service(web::scope("/hooks").configure(hookbus::api::configure(h.clone())))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", srv.addrs()[0]);
    actix_rt::spawn(srv.run());
    let client = awc::Client::builder().disable_redirects().finish();
    // The host's route: its own error format and its own body limit.
    let mut r = client
        .post(format!("{base}/orders"))
        .insert_header(("content-type", "application/json"))
        .send_body("{broken")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.body().await.unwrap(), "host says: bad order");
    let big = json!({"sku": "x".repeat(100)}).to_string();
    let mut r = client
        .post(format!("{base}/orders"))
        .insert_header(("content-type", "application/json"))
        .send_body(big)
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "the host's 64-byte limit, not hookbus's 8 MiB"
    );
    assert_eq!(r.body().await.unwrap(), "host says: bad order");
    // hookbus's routes keep hookbus's format.
    let mut r = client
        .post(format!("{base}/hooks/v1/endpoints"))
        .insert_header(("content-type", "application/json"))
        .send_body("{broken")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let _ = r.body().await;
    // The dashboard at /hooks/ and, redirected, at /hooks.
    let r = client.get(format!("{base}/hooks")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers().get("location").unwrap(), "/hooks/");
    let mut r = client.get(format!("{base}/hooks/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(String::from_utf8_lossy(&r.body().await.unwrap()).contains("<title>hookbus"));
    hub.shutdown().await;
}

#[actix_web::test]
async fn every_outcome_kind_arrives_with_its_fields() {
    let ok = TestReceiver::start(200);
    let flaky = TestReceiver::start(200);
    flaky.script(vec![Reply::status(503)]);
    let gone = TestReceiver::start(400);
    let skip = TestReceiver::start(200);
    let mut skipper = endpoint("skipper", &skip.url, &["s.*"]);
    skipper.transform = Some(hookbus::transform::TransformSpec::inline(
        "fn transform(e) { () }",
    ));
    let (hub, _dir) = start_hookbus(vec![
        endpoint("ok", &ok.url, &["o.*"]),
        endpoint("flaky", &flaky.url, &["f.*"]),
        endpoint("gone", &gone.url, &["g.*"]),
        skipper,
    ])
    .await;
    let mut rx = hub.outcomes();
    let mut ids = std::collections::HashMap::new();
    for t in ["o.x", "f.x", "g.x", "s.x"] {
        let r = hub
            .publish(PublishRequest::new(t, json!({})))
            .await
            .unwrap();
        ids.insert(r.deliveries[0].id.clone(), t);
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 5 && Instant::now() < deadline {
        if let Ok(Ok(o)) = actix_rt::time::timeout(Duration::from_secs(1), rx.recv()).await {
            seen.push(o);
        }
    }
    let find = |k: OutcomeKind, ep: &str| {
        seen.iter()
            .find(|o| o.kind == k && o.endpoint == ep)
            .unwrap_or_else(|| panic!("no {k:?} for {ep} in {seen:#?}"))
            .clone()
    };
    let d = find(OutcomeKind::Delivered, "ok");
    assert_eq!((d.attempt, d.status), (1, Some(200)));
    assert!(d.latency.is_some() && d.error.is_none());
    assert_eq!(d.event_type.as_deref(), Some("o.x"));
    assert!(d.endpoint_id.starts_with("ep_") && d.event_id.starts_with("evt_"));
    assert_eq!(ids[&d.delivery_id], "o.x");
    let r = find(OutcomeKind::RetryScheduled, "flaky");
    assert_eq!((r.attempt, r.status), (1, Some(503)));
    assert!(r.next_attempt_at.is_some() && r.error.is_some());
    let again = find(OutcomeKind::Delivered, "flaky");
    assert_eq!((again.attempt, again.delivery_id), (2, r.delivery_id));
    let g = find(OutcomeKind::DeadLettered, "gone");
    assert_eq!(g.status, Some(400));
    assert!(g.error.as_deref().unwrap_or("").contains("400"), "{g:?}");
    let f = find(OutcomeKind::Filtered, "skipper");
    assert_eq!((f.attempt, f.status), (0, None));
    hub.shutdown().await;
}

/// Publish `n` events in batches and time until the receiver has them all.
async fn deliver_all(hub: &hookbus::Hookbus, rx: &TestReceiver, n: usize) -> Duration {
    let before = rx.count();
    let started = Instant::now();
    for chunk in 0..n / 500 {
        let batch = (0..500)
            .map(|i| PublishRequest::new("load.tick", json!({"n": chunk * 500 + i})))
            .collect();
        hub.publish_batch(batch).await.unwrap();
    }
    rx.wait_for(before + n, Duration::from_secs(60)).await;
    started.elapsed()
}

#[actix_web::test]
async fn a_subscriber_that_never_reads_lags_itself_and_never_slows_delivery() {
    let rx = TestReceiver::start(200);
    let mut spec = endpoint("load", &rx.url, &["load.*"]);
    spec.max_in_flight = 64;
    let (hub, _dir) = start_hookbus(vec![spec]).await;
    // A reader that keeps up, in both phases.
    let mut reader = hub.outcomes();
    let read = Arc::new(Mutex::new(0usize));
    let counter = read.clone();
    actix_rt::spawn(async move {
        while let Ok(_) | Err(RecvError::Lagged(_)) = reader.recv().await {
            *counter.lock().unwrap() += 1;
        }
    });
    let n = 5000; // more than outcomes::CAPACITY
    let alone = deliver_all(&hub, &rx, n).await;
    let stuck = hub.outcomes(); // never read
    let beside = deliver_all(&hub, &rx, n).await;
    println!("deliveries of {n}: reader only {alone:?}, with a stuck subscriber {beside:?}");
    assert!(
        // Generous for a loaded CI machine: a subscriber that blocked senders
        // would stall delivery outright, not by a factor.
        beside <= alone * 3 + Duration::from_secs(1),
        "a stuck subscriber slowed delivery: {alone:?} → {beside:?}"
    );
    let mut stuck = stuck;
    match stuck.recv().await {
        Err(RecvError::Lagged(missed)) => {
            assert!(missed as usize >= n - hookbus::outcomes::CAPACITY)
        }
        other => panic!("the stuck subscriber must be told it lagged: {other:?}"),
    }
    assert!(*read.lock().unwrap() > 0, "the reader hears outcomes");
    hub.shutdown().await;
}

/// A span as the recording layer saw it.
#[derive(Clone, Debug)]
struct SpanSeen {
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    fields: Vec<(String, String)>,
}

static SPANS: OnceLock<Arc<Mutex<Vec<SpanSeen>>>> = OnceLock::new();

struct Recorder(Arc<Mutex<Vec<SpanSeen>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push((
            f.name().to_string(),
            format!("{v:?}").trim_matches('"').to_string(),
        ));
    }
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(SpanSeen {
            id: id.into_u64(),
            parent,
            name: attrs.metadata().name(),
            fields,
        });
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut spans = self.0.lock().unwrap();
        if let Some(s) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }
}

/// A process-wide subscriber that records spans (installed once; other tests' spans land too).
fn recorded_spans() -> Arc<Mutex<Vec<SpanSeen>>> {
    SPANS
        .get_or_init(|| {
            use tracing_subscriber::layer::SubscriberExt;
            let spans = Arc::new(Mutex::new(Vec::new()));
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::filter::LevelFilter::INFO)
                .with(Recorder(spans.clone()));
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the suite");
            spans
        })
        .clone()
}

fn field<'a>(s: &'a SpanSeen, name: &str) -> Option<&'a str> {
    s.fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[actix_web::test]
async fn an_attempt_span_is_a_child_of_its_publish_span_inside_the_callers() {
    let spans = recorded_spans();
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("traced", &rx.url, &["trace.*"])]).await;
    let host = tracing::info_span!("host.request");
    // How a host's handler runs: its future instrumented with the request span.
    let receipt = tracing::Instrument::instrument(
        hub.publish(PublishRequest::new("trace.me", json!({}))),
        host.clone(),
    )
    .await
    .unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    let ok = eventually(Duration::from_secs(3), || {
        spans.lock().unwrap().iter().any(|s| {
            s.name == "hookbus.attempt"
                && field(s, "status") == Some("200")
                && field(s, "delivery") == Some(receipt.deliveries[0].id.as_str())
        })
    })
    .await;
    let all = spans.lock().unwrap().clone();
    assert!(ok, "no attempt span with its status: {all:#?}");
    let publish = all
        .iter()
        .find(|s| s.name == "hookbus.publish" && field(s, "event_id") == Some(receipt.id.as_str()))
        .expect("a publish span naming the event");
    assert_eq!(field(publish, "event_type"), Some("trace.me"));
    assert_eq!(field(publish, "matched"), Some("1"));
    let host_id = host.id().unwrap().into_u64();
    assert_eq!(
        publish.parent,
        Some(host_id),
        "the publish span is the caller's child"
    );
    let attempt = all
        .iter()
        .find(|s| {
            s.name == "hookbus.attempt"
                && field(s, "delivery") == Some(receipt.deliveries[0].id.as_str())
        })
        .unwrap();
    assert_eq!(
        attempt.parent,
        Some(publish.id),
        "the attempt is the publish's child"
    );
    assert_eq!(field(attempt, "endpoint"), Some("traced"));
    assert_eq!(field(attempt, "attempt"), Some("1"));
    hub.shutdown().await;
}

#[actix_web::test]
async fn receivers_get_the_publishers_traceparent_unless_the_endpoint_opts_out() {
    let rx = TestReceiver::start(200);
    let quiet = TestReceiver::start(200);
    let mut opted_out = endpoint("quiet", &quiet.url, &["t.*"]);
    opted_out.propagate_trace = false;
    let (hub, _dir) = start_hookbus(vec![endpoint("tp", &rx.url, &["t.*"]), opted_out]).await;
    let base = serve_api(&hub);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = awc::Client::new()
        .post(format!("{base}/v1/events"))
        .insert_header(("traceparent", tp))
        .send_json(&json!({"type": "t.http", "data": {}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let embedded = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    hub.publish(PublishRequest::new("t.lib", json!({})).with_traceparent(embedded))
        .await
        .unwrap();
    hub.publish(PublishRequest::new("t.none", json!({})).with_traceparent("not-a-traceparent"))
        .await
        .unwrap();
    let got = rx.wait_for(3, Duration::from_secs(5)).await;
    let header_for = |t: &str| {
        got.iter()
            .find(|r| r.json()["type"] == t)
            .and_then(|r| r.header("traceparent").map(str::to_string))
    };
    assert_eq!(header_for("t.http").as_deref(), Some(tp));
    assert_eq!(header_for("t.lib").as_deref(), Some(embedded));
    assert_eq!(
        header_for("t.none"),
        None,
        "malformed trace context is ignored"
    );
    let q = quiet.wait_for(3, Duration::from_secs(5)).await;
    assert!(
        q.iter().all(|r| r.header("traceparent").is_none()),
        "propagate_trace = false"
    );
    let http = got.iter().find(|r| r.json()["type"] == "t.http").unwrap();
    let id = http.json()["id"].as_str().unwrap().to_string();
    let stored = hub.store().event(&id).unwrap().unwrap();
    let body = serde_json::to_value(&stored.event).unwrap();
    assert!(
        body.get("traceparent").is_none(),
        "not part of the delivered body"
    );
    assert_eq!(
        stored.traceparent.as_deref(),
        Some(tp),
        "kept with the event for retries after a restart"
    );
    hub.shutdown().await;
}
