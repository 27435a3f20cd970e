//! Trust at the API boundary: each finding of the attacker/integrator review
//! as a test, the OpenAPI contract checked by Schemathesis in a loopback-only
//! network namespace, and restarts that keep what operators did.

use std::path::Path;
use std::time::Duration;

use awc::http::Method;
use serde_json::{Value, json};

use crate::utils::*;

struct Answer {
    status: u16,
    headers: awc::http::header::HeaderMap,
    body: Value,
    text: String,
}

async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut req = client.request(Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut resp = match body {
        Some(b) => req.send_body(b.to_vec()).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let bytes = resp.body().await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");
const EVENT: &[u8] = br#"{"type":"order.created","data":{}}"#;

fn is_problem(a: &Answer) -> bool {
    a.headers.get("content-type").is_some_and(|v| {
        v.to_str()
            .unwrap_or("")
            .starts_with("application/problem+json")
    })
}

#[actix_web::test]
async fn cross_site_writes_are_refused_and_bodies_must_be_json() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events");
    // The review's repro: a text/plain simple request from a foreign page.
    let a = send(
        "POST",
        &url,
        &[
            ("content-type", "text/plain"),
            ("origin", "http://evil.example"),
        ],
        Some(EVENT),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(is_problem(&a));
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let a = send("POST", &url, &[("content-type", ct)], Some(EVENT)).await;
        assert_eq!(a.status, 415, "{ct}: {}", a.text);
        assert!(is_problem(&a));
    }
    let a = send("POST", &url, &[], Some(EVENT)).await;
    assert_eq!(a.status, 415, "no content type: {}", a.text);
    let a = send(
        "POST",
        &format!("{base}/v1/events/batch"),
        &[("content-type", "text/plain")],
        Some(br#"{"events":[]}"#),
    )
    .await;
    assert_eq!(a.status, 415);
    let rotate = format!("{base}/v1/endpoints/shop/rotate-secret");
    let a = send(
        "POST",
        &rotate,
        &[("content-type", "text/plain")],
        Some(b"{}"),
    )
    .await;
    assert_eq!(a.status, 415, "{}", a.text);
    let a = send("POST", &rotate, &[("origin", "http://evil.example")], None).await;
    assert_eq!(
        a.status, 403,
        "a bodyless cross-site rotation too: {}",
        a.text
    );
    let a = send(
        "POST",
        &url,
        &[JSON, ("sec-fetch-site", "cross-site")],
        Some(EVENT),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(rx.count(), 0, "nothing was published");
    // Same-origin (the dashboard) and plain clients still work.
    let own = base.clone();
    let a = send(
        "POST",
        &url,
        &[
            JSON,
            ("origin", own.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        Some(EVENT),
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text);
    let a = send(
        "POST",
        &url,
        &[("content-type", "application/json; charset=utf-8")],
        Some(EVENT),
    )
    .await;
    assert_eq!(a.status, 202);
    hub.shutdown().await;
}

#[actix_web::test]
async fn listed_cors_origins_get_preflights_and_allow_origin_headers() {
    let (mut cfg, _dir) = test_config();
    cfg.server.cors_origins = vec!["https://admin.example".into()];
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    let url = format!("{base}/v1/events");
    let pre = send(
        "OPTIONS",
        &url,
        &[
            ("origin", "https://admin.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        None,
    )
    .await;
    assert_eq!(pre.status, 204, "{}", pre.text);
    assert_eq!(
        pre.headers.get("access-control-allow-origin").unwrap(),
        "https://admin.example"
    );
    assert!(
        pre.headers
            .get("access-control-allow-methods")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let a = send(
        "POST",
        &url,
        &[
            JSON,
            ("origin", "https://admin.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        Some(EVENT),
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(
        a.headers.get("access-control-allow-origin").unwrap(),
        "https://admin.example"
    );
    let other = send(
        "POST",
        &url,
        &[JSON, ("origin", "https://other.example")],
        Some(EVENT),
    )
    .await;
    assert_eq!(other.status, 403);
    hub.shutdown().await;
}

#[actix_web::test]
async fn transform_paths_from_the_api_never_read_or_echo_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret.rhai");
    std::fs::write(&secret_file, "SECRET_TOKEN_abc123").unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    std::fs::write(scripts.join("bad.rhai"), "SECRET_TOKEN_abc123").unwrap();
    std::fs::write(scripts.join("ok.rhai"), "fn transform(e) { #{id: e.id} }").unwrap();
    let create = |base: String, path: String| async move {
        let body = json!({"name": "t", "url": "http://127.0.0.1:9/", "transform": {"path": path}});
        send(
            "POST",
            &format!("{base}/v1/endpoints"),
            &[JSON],
            Some(body.to_string().as_bytes()),
        )
        .await
    };
    // Without transforms.scripts_dir: no file is read at all.
    let (hub, _d) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    for path in [secret_file.display().to_string(), "/etc/passwd".to_string()] {
        let a = create(base.clone(), path.clone()).await;
        assert_eq!(a.status, 422, "{path}: {}", a.text);
        assert!(
            !a.text.contains("SECRET_TOKEN") && !a.text.contains("root"),
            "{}",
            a.text
        );
        assert!(
            a.text.contains("transform.script") || a.text.contains("config file"),
            "{}",
            a.text
        );
    }
    hub.shutdown().await;
    // With it: files inside only, and a compile error says where, not what.
    let (mut cfg, _d2) = test_config();
    cfg.transforms.scripts_dir = Some(scripts.clone());
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    let a = create(base.clone(), secret_file.display().to_string()).await;
    assert_eq!(a.status, 422, "outside the scripts dir: {}", a.text);
    let a = create(base.clone(), "../secret.rhai".into()).await;
    assert_eq!(a.status, 422);
    assert!(!a.text.contains("SECRET_TOKEN"), "{}", a.text);
    let a = create(base.clone(), "bad.rhai".into()).await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(
        !a.text.contains("SECRET_TOKEN"),
        "never echo file content: {}",
        a.text
    );
    assert!(a.text.contains("line 1"), "{}", a.text);
    let a = create(base.clone(), "ok.rhai".into()).await;
    assert_eq!(a.status, 201, "{}", a.text);
    // An inline script's own errors may quote it: the caller sent it.
    let body =
        json!({"name": "inline", "url": "http://127.0.0.1:9/", "transform": {"script": "MY_TYPO"}});
    let a = send(
        "POST",
        &format!("{base}/v1/endpoints"),
        &[JSON],
        Some(body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(a.status, 422);
    assert!(
        a.text.contains("MY_TYPO") || a.text.contains("transform"),
        "{}",
        a.text
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn publishing_the_engines_own_event_types_is_refused() {
    let ops = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("ops", &ops.url, &["hookbus.**"])]).await;
    let base = serve_api(&hub);
    for body in [
        r#"{"type":"hookbus.endpoint.disabled","data":{"endpoint":"shop"}}"#,
        r#"{"type":"hookbus","data":{}}"#,
    ] {
        let a = send(
            "POST",
            &format!("{base}/v1/events"),
            &[JSON],
            Some(body.as_bytes()),
        )
        .await;
        assert_eq!(a.status, 422, "{}", a.text);
        assert!(a.text.contains("reserved"), "{}", a.text);
    }
    let batch = br#"{"events":[{"type":"a.b"},{"type":"hookbus.delivery.recovered"}]}"#;
    let a = send(
        "POST",
        &format!("{base}/v1/events/batch"),
        &[JSON],
        Some(batch),
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.body["errors"][0]["loc"], "events[1].type", "{}", a.text);
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ops.count(), 0);
    hub.shutdown().await;
}

#[actix_web::test]
async fn rotate_secret_refuses_what_it_cannot_parse_and_can_revoke_every_old_secret() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &["order.*"])]).await;
    let base = serve_api(&hub);
    let url = format!("{base}/v1/endpoints/shop/rotate-secret");
    for (body, want) in [
        (&br#"{"grace":"bogus"}"#[..], 422),
        (br#"{"grace_period":"1h"}"#, 422),
        (br#"{"grace":"-1h"}"#, 422),
        (b"null", 422),
        (b"\x00", 400),
        (b"not json", 400),
    ] {
        let a = send("POST", &url, &[JSON], Some(body)).await;
        assert_eq!(
            a.status,
            want,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            a.text
        );
        assert!(is_problem(&a));
    }
    assert_eq!(
        hub.endpoint_status("shop")
            .await
            .unwrap()
            .0
            .retiring_secrets
            .len(),
        0,
        "nothing rotated"
    );
    // An empty body keeps the documented default of 24 h.
    let a = send("POST", &url, &[], None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let expiry =
        humantime::parse_rfc3339(a.body["retiring"][0]["expires_at"].as_str().unwrap()).unwrap();
    let left = expiry.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        left > Duration::from_secs(86_000) && left <= Duration::from_secs(86_400),
        "{left:?}"
    );
    let a = send("POST", &url, &[JSON], Some(br#"{"grace":"1h"}"#)).await;
    assert_eq!(
        a.body["retiring"].as_array().unwrap().len(),
        2,
        "{}",
        a.text
    );
    // After a leak: only the new secret signs from now on.
    let a = send("POST", &url, &[JSON], Some(br#"{"revoke_previous":true}"#)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["retiring"], json!([]), "{}", a.text);
    assert!(a.body["old_secrets_expire_at"].is_null());
    let newest = a.body["secret"].as_str().unwrap().to_string();
    hub.publish(hookbus::PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let sig = got[0].header("webhook-signature").unwrap();
    assert_eq!(
        sig.split(' ').count(),
        1,
        "one signature, not the revoked ones: {sig}"
    );
    let ts: i64 = got[0].header("webhook-timestamp").unwrap().parse().unwrap();
    let id = got[0].header("webhook-id").unwrap();
    assert!(
        hookbus::sign::verify(
            hookbus::sign::Scheme::Standard,
            &newest,
            id,
            ts,
            &got[0].body,
            sig
        )
        .unwrap()
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn values_that_would_fail_every_attempt_are_refused_at_create_and_patch() {
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    for url in [
        "http://127.0.0.1:9/x ",
        "http://127.0.0.1:9/x\n",
        "http://127.0.0.1:9/\tx",
        "http://127.0.0.1:9/\r\nx",
        "http:///x",
    ] {
        let body = json!({"name": "a", "url": url});
        let a = send(
            "POST",
            &format!("{base}/v1/endpoints"),
            &[JSON],
            Some(body.to_string().as_bytes()),
        )
        .await;
        assert_eq!(a.status, 422, "{url:?}: {}", a.text);
        assert_eq!(a.body["errors"][0]["loc"], "url");
    }
    let body = json!({"name": "b", "url": "http://127.0.0.1:9/", "auth": {"type": "bearer", "token": "abc\r\nx-evil: 1"}});
    let a = send(
        "POST",
        &format!("{base}/v1/endpoints"),
        &[JSON],
        Some(body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["errors"][0]["loc"], "auth.token");
    // Stored as it will be sent.
    let body = json!({"name": "c", "url": "http://LOCALHOST:80/hooks"});
    let a = send(
        "POST",
        &format!("{base}/v1/endpoints"),
        &[JSON],
        Some(body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["url"], "http://localhost/hooks");
    let patch = send(
        "PATCH",
        &format!("{base}/v1/endpoints/c"),
        &[JSON],
        Some(br#"{"url":"http://127.0.0.1:9/x "}"#),
    )
    .await;
    assert_eq!(patch.status, 422, "{}", patch.text);
    hub.shutdown().await;
}

#[actix_web::test]
async fn extractor_errors_are_problems_and_wrong_methods_are_405_with_allow() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    for (path, loc) in [
        ("/v1/endpoints/shop/deliveries?status=bogus", "query.status"),
        ("/v1/endpoints/shop/deliveries?foo=1", "query.foo"),
        ("/v1/dead-letters?limit=-1", "query.limit"),
        ("/v1/endpoints?limit=abc", "query.limit"),
        ("/v1/endpoints?limit=0", "query.limit"),
    ] {
        let a = send("GET", &format!("{base}{path}"), &[], None).await;
        assert_eq!(a.status, 422, "{path}: {}", a.text);
        assert!(is_problem(&a), "{path}");
        assert_eq!(a.body["errors"][0]["loc"], loc, "{path}: {}", a.text);
    }
    for (method, path, allow) in [
        ("TRACE", "/healthz", "GET"),
        ("PUT", "/v1/events", "POST"),
        ("DELETE", "/v1/events", "POST"),
        ("PUT", "/v1/endpoints/shop", "GET, PATCH, DELETE"),
    ] {
        let a = send(method, &format!("{base}{path}"), &[], None).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
        assert_eq!(a.headers.get("allow").unwrap(), allow, "{method} {path}");
        assert!(is_problem(&a));
    }
    let a = send("GET", &format!("{base}/v1/no-such-thing"), &[], None).await;
    assert_eq!(a.status, 404);
    assert!(is_problem(&a));
    hub.shutdown().await;
}

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (mut cfg, _dir) = test_config();
    cfg.server.api_token = Some("a-long-enough-token-123".into());
    let hub = hookbus::Hookbus::start(cfg).await.unwrap();
    let base = serve_api(&hub);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} a-long-enough-token-123");
        let a = send(
            "GET",
            &format!("{base}/v1/endpoints"),
            &[("authorization", auth.as_str())],
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{scheme}");
    }
    let a = send(
        "GET",
        &format!("{base}/v1/endpoints"),
        &[("authorization", "bearer wrong-token-xxxxxxxx")],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    hub.shutdown().await;
}

#[actix_web::test]
async fn the_openapi_document_describes_real_answers_and_declared_bounds() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let doc = send("GET", &format!("{base}/openapi.json"), &[], None)
        .await
        .body;
    let schemas = &doc["components"]["schemas"];
    let view = &schemas["EndpointView"];
    assert!(
        view.get("allOf").is_none(),
        "a closed allOf rejects every real answer"
    );
    let answer = send("GET", &format!("{base}/v1/endpoints/shop"), &[], None)
        .await
        .body;
    for key in answer.as_object().unwrap().keys() {
        assert!(
            view["properties"].get(key).is_some(),
            "`{key}` of a real answer is not declared"
        );
    }
    assert_ne!(view["additionalProperties"], false);
    let t = &schemas["PublishRequest"]["properties"]["type"];
    assert!(t["pattern"].as_str().unwrap().contains("hookbus"), "{t}");
    assert_eq!(t["maxLength"], 256);
    assert_eq!(schemas["Batch"]["properties"]["events"]["minItems"], 1);
    assert_eq!(schemas["Batch"]["properties"]["events"]["maxItems"], 1000);
    let ep = &schemas["EndpointSpec"]["properties"];
    assert_eq!(ep["name"]["maxLength"], 64);
    assert!(ep["url"]["pattern"].is_string());
    assert_eq!(
        (
            ep["max_in_flight"]["minimum"].as_u64(),
            ep["max_in_flight"]["maximum"].as_u64()
        ),
        (Some(1), Some(1024))
    );
    assert_eq!(ep["success_codes"]["minItems"], 1);
    let patch = &doc["paths"]["/v1/endpoints/{id}"]["patch"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(patch["type"], "object", "PATCH is not `{{}}`: {patch}");
    let publish = &doc["paths"]["/v1/events"]["post"]["responses"];
    for code in ["400", "403", "413", "415", "422", "503"] {
        assert!(
            publish.get(code).is_some(),
            "POST /v1/events does not declare {code}"
        );
    }
    assert!(
        doc["paths"]["/v1/events"]["post"].get("security").is_none(),
        "no token: no security"
    );
    hub.shutdown().await;
}

/// Schemathesis, if present (CI installs it), or `None` with a reason.
fn schemathesis() -> Result<String, String> {
    if let Ok(p) = std::env::var("HOOKBUS_SCHEMATHESIS") {
        return Ok(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let venv = format!("{home}/.cache/hookbus/venv/bin/schemathesis");
    if Path::new(&venv).exists() {
        return Ok(venv);
    }
    let on_path = std::process::Command::new("sh")
        .args(["-c", "command -v schemathesis"])
        .output();
    match on_path {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => Err("schemathesis is not installed (pip install schemathesis; .ci/run does)".into()),
    }
}

#[test]
fn schemathesis_finds_nothing_outside_the_allow_list() {
    let _turn = crate::utils::MACHINE.blocking_lock();
    let st = match schemathesis() {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run Schemathesis: {why}"
            );
            eprintln!("skipping Schemathesis: {why}");
            return;
        }
    };
    // A new network namespace with only loopback: nothing can leave the machine.
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to `unshare -n`"
        );
        eprintln!("skipping Schemathesis: `unshare -n` is not available (needs root)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/run.sh");
    let run = std::process::Command::new("unshare")
        .args(["-n", "--", "bash"])
        .arg(script)
        .arg(crate::utils::BIN)
        .arg(&st)
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let details = |name: &str| {
        std::fs::read_to_string(out.path().join(format!("{name}.txt"))).unwrap_or_default()
    };
    assert!(
        run.status.success(),
        "{stdout}\n{stderr}\n--- open run ---\n{}\n--- token run ---\n{}",
        details("open"),
        details("token")
    );
    println!("{stdout}");
}

#[actix_web::test]
async fn a_restart_keeps_rotation_patch_and_pause_of_a_config_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rx = TestReceiver::start(200);
    let entry = format!(
        "[[endpoints]]\nname = \"shop\"\nurl = \"{}\"\nevents = [\"order.*\"]\ndescription = \"from the file\"\n",
        rx.url
    );
    let cfg = ServerConfig::write(dir.path(), &entry);
    let mut child = cfg.spawn();
    wait_healthy(&cfg.base).await;
    let base = cfg.base.clone();
    let a = send(
        "POST",
        &format!("{base}/v1/endpoints/shop/rotate-secret"),
        &[JSON],
        Some(br#"{"revoke_previous":true}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let secret = a.body["secret"].as_str().unwrap().to_string();
    let a = send(
        "PATCH",
        &format!("{base}/v1/endpoints/shop"),
        &[JSON],
        Some(br#"{"description":"changed by the API"}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        send(
            "POST",
            &format!("{base}/v1/endpoints/shop/pause"),
            &[],
            None
        )
        .await
        .status,
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Same file: nothing the API did is undone.
    let mut child = cfg.spawn();
    wait_healthy(&cfg.base).await;
    let a = send("GET", &format!("{base}/v1/endpoints/shop"), &[], None).await;
    assert_eq!(a.body["status"], "paused", "{}", a.text);
    assert_eq!(a.body["description"], "changed by the API");
    assert_eq!(
        send(
            "POST",
            &format!("{base}/v1/endpoints/shop/resume"),
            &[],
            None
        )
        .await
        .status,
        200
    );
    let a = send("POST", &format!("{base}/v1/events"), &[JSON], Some(EVENT)).await;
    assert_eq!(a.status, 202);
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let (id, sig) = (
        got[0].header("webhook-id").unwrap(),
        got[0].header("webhook-signature").unwrap(),
    );
    let ts: i64 = got[0].header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(
        hookbus::sign::verify(
            hookbus::sign::Scheme::Standard,
            &secret,
            id,
            ts,
            &got[0].body,
            sig
        )
        .unwrap(),
        "the rotated secret still signs after the restart"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A changed entry applies, and says which API change it overrode.
    std::fs::write(
        &cfg.path,
        std::fs::read_to_string(&cfg.path)
            .unwrap()
            .replace("from the file", "new text"),
    )
    .unwrap();
    let log = dir.path().join("third.log");
    let mut cmd = cfg.command();
    cmd.stderr(std::fs::File::create(&log).unwrap())
        .env("RUST_LOG", "warn");
    let mut child = cmd.spawn().unwrap();
    wait_healthy(&cfg.base).await;
    let a = send("GET", &format!("{base}/v1/endpoints/shop"), &[], None).await;
    assert_eq!(a.body["description"], "new text");
    assert_eq!(
        a.body["status"], "active",
        "the resume (an API change) stays"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("WARN") && text.contains("description") && text.contains("overriding"),
        "{text}"
    );
}
