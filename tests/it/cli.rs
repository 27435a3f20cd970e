//! The CLI against a running server, and its offline `verify`.

use std::time::Duration;

use serde_json::Value;

use crate::utils::*;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the real binary off the test's runtime (the server under test shares that runtime).
async fn hookbus(base: &str, args: &[&str]) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let base = base.to_string();
    actix_rt::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbus"))
            .args(&args)
            .env("HOOKBUS_URL", base)
            .env_remove("HOOKBUS_API_TOKEN")
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn endpoint_commands_manage_a_running_server() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![]).await;
    let base = serve_api(&hub);
    let out = hookbus(
        &base,
        &[
            "endpoints",
            "create",
            "--name",
            "shop",
            "--endpoint-url",
            &rx.url,
            "--event",
            "order.*",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("signing.secrets: whsec_"),
        "secret shown once: {}",
        out.stdout
    );
    let out = hookbus(&base, &["endpoints", "list"]).await;
    assert!(out.stdout.starts_with("NAME"), "{}", out.stdout);
    assert!(out.stdout.contains("shop") && out.stdout.contains("order.*"));
    let out = hookbus(&base, &["endpoints", "get", "shop", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["signing"]["secrets"][0], "***");
    let out = hookbus(&base, &["endpoints", "pause", "shop"]).await;
    assert!(out.stdout.contains("status: paused"), "{}", out.stdout);
    hookbus(&base, &["endpoints", "resume", "shop"]).await;
    let out = hookbus(&base, &["endpoints", "test", "shop"]).await;
    assert!(out.stdout.contains("success: true"), "{}", out.stdout);
    let out = hookbus(
        &base,
        &["endpoints", "rotate-secret", "shop", "--grace", "1h"],
    )
    .await;
    assert!(out.stdout.contains("secret: whsec_"), "{}", out.stdout);
    let out = hookbus(
        &base,
        &[
            "publish",
            "order.created",
            "--data",
            r#"{"id": 1}"#,
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let receipt: Value = serde_json::from_str(&out.stdout).unwrap();
    let dlv = receipt["deliveries"][0]["id"].as_str().unwrap().to_string();
    rx.wait_for(2, Duration::from_secs(5)).await;
    assert!(
        eventually(Duration::from_secs(2), || {
            hub.store().delivery(&dlv).unwrap().unwrap().status
                == hookbus::store::records::DeliveryStatus::Delivered
        })
        .await
    );
    let out = hookbus(&base, &["deliveries", "list", "shop"]).await;
    assert!(
        out.stdout.contains(&dlv) && out.stdout.contains("delivered"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["deliveries", "get", &dlv]).await;
    assert!(
        out.stdout.contains("attempt_history[0].status_code: 200"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["deliveries", "retry", &dlv]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    rx.wait_for(3, Duration::from_secs(5)).await;
    let out = hookbus(&base, &["stats"]).await;
    assert!(
        out.stdout.contains("shop") && out.stdout.starts_with("NAME"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["endpoints", "delete", "shop"]).await;
    assert_eq!(out.code, 0);
    let out = hookbus(&base, &["endpoints", "get", "shop"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("404") && out.stderr.contains("not found"),
        "{}",
        out.stderr
    );
    let out = hookbus("http://127.0.0.1:9", &["endpoints", "list"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    hub.shutdown().await;
}

#[actix_web::test]
async fn dlq_commands_list_replay_and_purge() {
    let rx = TestReceiver::start(400);
    let (hub, _dir) = start_hookbus(vec![endpoint("d", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    for _ in 0..3 {
        hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
            .await
            .unwrap();
    }
    rx.wait_for(3, Duration::from_secs(5)).await;
    assert!(
        eventually(Duration::from_secs(3), || hub
            .store()
            .dead_letters(10)
            .unwrap()
            .len()
            == 3)
        .await
    );
    let out = hookbus(&base, &["dlq", "list", "--endpoint", "d"]).await;
    assert_eq!(
        out.stdout.lines().count(),
        4,
        "header + 3 rows: {}",
        out.stdout
    );
    let out = hookbus(&base, &["dlq", "replay", "--dry-run", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["count"].as_u64(), v["dry_run"].as_bool()),
        (Some(3), Some(true))
    );
    rx.set_default(Reply::status(200));
    let out = hookbus(&base, &["dlq", "replay", "--endpoint", "d"]).await;
    assert!(
        out.stdout.contains("replayed: 3"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    rx.wait_for(6, Duration::from_secs(5)).await;
    rx.set_default(Reply::status(400));
    hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || hub
            .store()
            .dead_letters(10)
            .unwrap()
            .len()
            == 1)
        .await
    );
    let out = hookbus(&base, &["dlq", "purge", "--endpoint", "d"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(hub.store().dead_letters(10).unwrap().is_empty());
    hub.shutdown().await;
}

#[actix_web::test]
async fn verify_checks_a_received_request_for_both_schemes() {
    let rx = TestReceiver::start(200);
    let mut seed = endpoint("seed", &rx.url, &["seed.*"]);
    seed.signing.scheme = hookbus::sign::Scheme::Sha256;
    seed.signing.secrets = vec!["seed-secret".into()];
    let mut std_ep = endpoint("std", &rx.url, &["std.*"]);
    std_ep.signing.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()];
    let (hub, dir) = start_hookbus(vec![seed, std_ep]).await;
    hub.publish(hookbus::PublishRequest::new(
        "std.x",
        serde_json::json!({"a": 1}),
    ))
    .await
    .unwrap();
    hub.publish(hookbus::PublishRequest::new(
        "seed.x",
        serde_json::json!({"b": 2}),
    ))
    .await
    .unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    for r in &got {
        let body = dir.path().join("body");
        std::fs::write(&body, &r.body).unwrap();
        let (secret, names) = if r.header("webhook-signature").is_some() {
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                ["webhook-id", "webhook-timestamp", "webhook-signature"],
            )
        } else {
            (
                "seed-secret",
                [
                    "x-webhook-timestamp",
                    "x-webhook-signature",
                    "x-webhook-event",
                ],
            )
        };
        let mut args = vec![
            "verify".to_string(),
            "--secret".into(),
            secret.into(),
            "--body".into(),
            body.display().to_string(),
        ];
        for n in names {
            args.push("-H".into());
            args.push(format!("{n}: {}", r.header(n).unwrap()));
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = hookbus("http://unused", &argv).await;
        assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
        assert!(out.stdout.starts_with("valid"));
        std::fs::write(&body, b"{\"tampered\":true}").unwrap();
        let out = hookbus("http://unused", &argv).await;
        assert_eq!(out.code, 1, "a changed body must not verify");
    }
    hub.shutdown().await;
}
