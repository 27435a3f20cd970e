//! The CLI against a running server, and its offline `verify`.

use std::time::Duration;

use serde_json::Value;

use crate::utils::*;

/// Wait (3 s at most) until the store holds exactly `n` dead letters.
async fn dead_letters_reach(hub: &hookbus::Hookbus, n: usize) -> bool {
    eventually(Duration::from_secs(3), || {
        hub.store().dead_letters(10).unwrap().len() == n
    })
    .await
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the real binary against the server at `base`.
async fn hookbus(base: &str, args: &[&str]) -> Out {
    hookbus_env(args, &[("HOOKBUS_URL", base)], None).await
}

/// Run the real binary off the test's runtime (the server under test shares
/// that runtime), with `env` added (`HOOKBUS_CONFIG` and the token cleared unless given).
async fn hookbus_env(args: &[&str], env: &[(&str, &str)], cwd: Option<&std::path::Path>) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cwd = cwd.map(std::path::Path::to_path_buf);
    actix_rt::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hookbus"));
        cmd.args(&args)
            .env_remove("HOOKBUS_CONFIG")
            .env_remove("HOOKBUS_API_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let out = cmd.output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn is_rfc3339(s: &str) -> bool {
    humantime::parse_rfc3339(s).is_ok()
}

#[actix_web::test]
async fn create_prints_a_short_block_and_the_secret_last_marked_shown_once() {
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
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Created endpoint shop (ep_"),
        "{}",
        out.stdout
    );
    assert!(
        lines.len() <= 10,
        "a short block, not a key dump: {}",
        out.stdout
    );
    assert!(out.stdout.contains("shown once"), "{}", out.stdout);
    let last = lines.last().unwrap().trim();
    assert!(
        last.starts_with("whsec_"),
        "the secret is the last line: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("success_codes"), "{}", out.stdout);
    // Later reads: one block, code ranges, secrets redacted, RFC 3339 times.
    let out = hookbus(&base, &["endpoints", "get", "shop"]).await;
    assert!(out.stdout.contains("200-299"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("whsec_") && !out.stdout.contains("201"),
        "{}",
        out.stdout
    );
    let created = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("created"))
        .unwrap();
    assert!(
        is_rfc3339(created.split_whitespace().last().unwrap()),
        "{created}"
    );
    // JSON stays the server's own answer.
    let out = hookbus(&base, &["endpoints", "get", "shop", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["signing"]["secrets"][0], "***");
    assert_eq!(v["success_codes"].as_array().unwrap().len(), 100);
    let out = hookbus(&base, &["endpoints", "list"]).await;
    assert!(out.stdout.starts_with("NAME"), "{}", out.stdout);
    assert!(out.stdout.contains("shop") && out.stdout.contains("order.*"));
    hub.shutdown().await;
}

#[actix_web::test]
async fn pause_and_resume_print_one_line_with_what_waits() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &["order.*"])]).await;
    let base = serve_api(&hub);
    let out = hookbus(&base, &["endpoints", "pause", "shop"]).await;
    assert_eq!(
        out.stdout, "shop paused; nothing queued\n",
        "{}",
        out.stderr
    );
    for _ in 0..2 {
        hub.publish(hookbus::PublishRequest::new(
            "order.created",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    }
    let out = hookbus(&base, &["endpoints", "pause", "shop"]).await;
    assert_eq!(out.stdout, "shop paused; 2 deliveries wait\n");
    let out = hookbus(&base, &["endpoints", "resume", "shop"]).await;
    assert_eq!(
        out.stdout,
        "shop resumed; 2 queued deliveries are being sent\n"
    );
    rx.wait_for(2, Duration::from_secs(5)).await;
    hub.shutdown().await;
}

#[actix_web::test]
async fn endpoints_test_prints_the_attempt_and_exits_non_zero_on_failure() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let out = hookbus(&base, &["endpoints", "test", "shop"]).await;
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("Test event evt_"), "{}", out.stdout);
    assert!(
        out.stdout.contains("delivered to shop: HTTP 200"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("error"), "{}", out.stdout);
    rx.set_default(Reply::status(500));
    let out = hookbus(&base, &["endpoints", "test", "shop"]).await;
    assert_eq!(
        out.code, 1,
        "a failed test send must fail the command: {}",
        out.stdout
    );
    assert!(out.stdout.contains("failed: HTTP 500"), "{}", out.stdout);
    hub.shutdown().await;
}

#[actix_web::test]
async fn tables_name_endpoints_and_deliveries_list_newest_first_with_a_cursor() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &["order.*"])]).await;
    let base = serve_api(&hub);
    let id = endpoint_id(&hub, "shop").await;
    let out = hookbus(
        &base,
        &["publish", "order.created", "--data", r#"{"id": 1}"#],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("Published evt_"), "{}", out.stdout);
    assert!(out.stdout.contains("1 delivery"), "{}", out.stdout);
    assert!(
        out.stdout.contains("shop") && !out.stdout.contains(&id),
        "names, not ids: {}",
        out.stdout
    );
    let mut ids = Vec::new();
    for n in 2..=3 {
        let out = hookbus(
            &base,
            &[
                "publish",
                "order.created",
                "--data",
                &format!(r#"{{"id": {n}}}"#),
                "--format",
                "json",
            ],
        )
        .await;
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        ids.push(v["deliveries"][0]["id"].as_str().unwrap().to_string());
    }
    rx.wait_for(3, Duration::from_secs(5)).await;
    let out = hookbus(&base, &["deliveries", "list", "shop", "--limit", "2"]).await;
    let rows: Vec<&str> = out.stdout.lines().skip(1).take(2).collect();
    assert!(rows[0].starts_with(&ids[1]), "newest first: {}", out.stdout);
    assert!(rows[1].starts_with(&ids[0]), "{}", out.stdout);
    let hint = out.stdout.lines().last().unwrap();
    assert!(
        hint.contains("--cursor"),
        "says that more exist: {}",
        out.stdout
    );
    let cursor = hint
        .split("--cursor ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    let out = hookbus(
        &base,
        &[
            "deliveries",
            "list",
            "shop",
            "--limit",
            "2",
            "--cursor",
            cursor,
        ],
    )
    .await;
    assert_eq!(
        out.stdout.lines().count(),
        2,
        "header + the oldest: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("--cursor"), "{}", out.stdout);
    let out = hookbus(&base, &["deliveries", "get", &ids[0]]).await;
    assert!(
        out.stdout.contains("endpoint") && out.stdout.contains("shop"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2xx") && out.stdout.contains("200"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["deliveries", "retry", &ids[0]]).await;
    assert_eq!(out.stdout.trim(), format!("{} queued again", ids[0]));
    rx.wait_for(4, Duration::from_secs(5)).await;
    let out = hookbus(&base, &["stats", "shop"]).await;
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("last_success_at"))
        .unwrap();
    assert!(
        is_rfc3339(line.split(": ").nth(1).unwrap()),
        "RFC 3339 everywhere: {line}"
    );
    let out = hookbus(&base, &["stats"]).await;
    assert!(
        out.stdout.starts_with("NAME") && out.stdout.contains("shop"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["endpoints", "delete", "shop"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "Deleted shop\n"));
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
async fn rotate_secret_shows_the_new_secret_once() {
    let rx = TestReceiver::start(200);
    let (hub, _dir) = start_hookbus(vec![endpoint("shop", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let out = hookbus(
        &base,
        &["endpoints", "rotate-secret", "shop", "--grace", "1h"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("shown once"), "{}", out.stdout);
    assert!(out.stdout.contains("keeps signing until"), "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .trim()
            .starts_with("whsec_"),
        "{}",
        out.stdout
    );
    hub.shutdown().await;
}

#[actix_web::test]
async fn dlq_commands_list_replay_and_purge() {
    let rx = TestReceiver::start(400);
    let (hub, _dir) = start_hookbus(vec![endpoint("d", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    let id = endpoint_id(&hub, "d").await;
    for _ in 0..3 {
        hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
            .await
            .unwrap();
    }
    rx.wait_for(3, Duration::from_secs(5)).await;
    assert!(dead_letters_reach(&hub, 3).await);
    let out = hookbus(&base, &["dlq", "list", "--endpoint", "d"]).await;
    assert_eq!(
        out.stdout.lines().count(),
        4,
        "header + 3 rows: {}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(&id),
        "endpoint names, not ids: {}",
        out.stdout
    );
    assert!(
        out.stdout.lines().nth(1).unwrap().contains(" d "),
        "{}",
        out.stdout
    );
    // Durations and timestamps both work as --since/--until.
    let out = hookbus(&base, &["dlq", "list", "--since", "1h"]).await;
    assert_eq!(
        out.stdout.lines().count(),
        4,
        "{} {}",
        out.stdout,
        out.stderr
    );
    let out = hookbus(&base, &["dlq", "list", "--until", "1h"]).await;
    assert!(out.stdout.contains("(none)"), "{}", out.stdout);
    let out = hookbus(&base, &["dlq", "list", "--since", "2000-01-01"]).await;
    assert_eq!(out.stdout.lines().count(), 4, "{}", out.stdout);
    let out = hookbus(&base, &["dlq", "list", "--since", "soonish"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--since"), "{}", out.stderr);
    let out = hookbus(&base, &["dlq", "list", "--limit", "2"]).await;
    assert!(out.stdout.contains("--cursor"), "{}", out.stdout);
    let out = hookbus(&base, &["dlq", "replay", "--dry-run", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["count"].as_u64(), v["dry_run"].as_bool()),
        (Some(3), Some(true))
    );
    rx.set_default(Reply::status(200));
    let out = hookbus(&base, &["dlq", "replay", "--endpoint", "d"]).await;
    assert_eq!(out.stdout, "replayed 3 dead letters\n", "{}", out.stderr);
    rx.wait_for(6, Duration::from_secs(5)).await;
    rx.set_default(Reply::status(400));
    for _ in 0..2 {
        hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
            .await
            .unwrap();
    }
    assert!(dead_letters_reach(&hub, 2).await);
    // No filter and nobody to ask: refuse, delete nothing.
    let out = hookbus(&base, &["dlq", "purge"]).await;
    assert_eq!(out.code, 2, "{} {}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("--yes") && out.stderr.contains('2'),
        "{}",
        out.stderr
    );
    assert_eq!(hub.store().dead_letters(10).unwrap().len(), 2);
    let out = hookbus(&base, &["dlq", "purge", "--endpoint", "d", "--dry-run"]).await;
    assert!(
        out.stdout.starts_with("would purge 2 dead letters"),
        "{}",
        out.stdout
    );
    let out = hookbus(&base, &["dlq", "purge", "--yes"]).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "purged 2 dead letters\n"),
        "{}",
        out.stderr
    );
    assert!(hub.store().dead_letters(10).unwrap().is_empty());
    hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
        .await
        .unwrap();
    assert!(dead_letters_reach(&hub, 1).await);
    let out = hookbus(&base, &["dlq", "purge", "--endpoint", "d"]).await;
    assert_eq!(
        out.stdout, "purged 1 dead letter\n",
        "a filter needs no confirmation"
    );
    hub.shutdown().await;
}

/// Run the CLI on a pseudo-terminal (util-linux `script`), typing `input`.
async fn hookbus_on_tty(base: &str, args: &str, input: &'static str) -> Option<String> {
    let which = std::process::Command::new("sh")
        .args(["-c", "command -v script"])
        .output();
    if !which.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping the terminal prompt check: util-linux `script` is not installed");
        return None;
    }
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_hookbus"));
    let base = base.to_string();
    Some(
        actix_rt::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .env("HOOKBUS_URL", base)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Let the prompt appear before answering it.
            std::thread::sleep(Duration::from_millis(700));
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .await
        .unwrap(),
    )
}

#[actix_web::test]
async fn dlq_purge_without_filters_asks_on_a_terminal() {
    let rx = TestReceiver::start(400);
    let (hub, _dir) = start_hookbus(vec![endpoint("d", &rx.url, &[])]).await;
    let base = serve_api(&hub);
    hub.publish(hookbus::PublishRequest::new("a.b", serde_json::json!({})))
        .await
        .unwrap();
    assert!(dead_letters_reach(&hub, 1).await);
    let Some(out) = hookbus_on_tty(&base, "dlq purge", "no\n").await else {
        return;
    };
    assert!(out.contains("Delete all 1 dead letters for good?"), "{out}");
    assert!(out.contains("not purged"), "{out}");
    assert_eq!(
        hub.store().dead_letters(10).unwrap().len(),
        1,
        "answering no keeps them"
    );
    let out = hookbus_on_tty(&base, "dlq purge", "yes\n").await.unwrap();
    assert!(out.contains("purged 1 dead letter"), "{out}");
    assert!(hub.store().dead_letters(10).unwrap().is_empty());
    hub.shutdown().await;
}

#[actix_web::test]
async fn check_config_finds_the_file_says_which_and_names_bad_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    // No file anywhere: say where it looked and how to give one.
    let out = hookbus_env(&["check-config"], &[], Some(dir.path())).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("hookbus.toml") && out.stderr.contains("-c"),
        "{}",
        out.stderr
    );
    std::fs::create_dir_all(dir.path().join("conf/scripts")).unwrap();
    std::fs::write(
        dir.path().join("conf/scripts/t.rhai"),
        "fn transform(e) { e }",
    )
    .unwrap();
    let good = dir.path().join("conf/good.toml");
    std::fs::write(
        &good,
        "[[endpoints]]\nname = \"shop\"\nurl = \"http://127.0.0.1:9/\"\ntransform = { path = \"scripts/t.rhai\" }\n",
    )
    .unwrap();
    // From $HOOKBUS_CONFIG, with the script found next to the file, not the working directory.
    let out = hookbus_env(
        &["check-config"],
        &[("HOOKBUS_CONFIG", good.to_str().unwrap())],
        Some(dir.path()),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("good.toml") && out.stdout.contains("HOOKBUS_CONFIG"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ok (1 endpoint: shop)"),
        "{}",
        out.stdout
    );
    // The default file in the working directory.
    std::fs::write(
        dir.path().join("hookbus.toml"),
        "[[endpoints]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n[[endpoints]]\nname = \"crm\"\nurl = \"ftp://x\"\n",
    )
    .unwrap();
    let out = hookbus_env(&["check-config"], &[], Some(dir.path())).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("checking hookbus.toml (the default)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("endpoints[1] (crm).url"),
        "{}",
        out.stderr
    );
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

#[actix_web::test]
async fn app_commands_and_the_app_flag_work_on_one_application() {
    let (hub, dir, api) = start_with_api().await;
    let base = api.base().to_string();
    let ok = |out: &Out| assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = hookbus(
        &base,
        &["apps", "create", "--uid", "acme", "--name", "Acme"],
    )
    .await;
    ok(&out);
    assert!(
        out.stdout.contains("acme") && out.stdout.contains("app_"),
        "{}",
        out.stdout
    );
    let out = hookbus(
        &base,
        &[
            "endpoints",
            "create",
            "--app",
            "acme",
            "--name",
            "billing",
            "--endpoint-url",
            "http://127.0.0.1:9/",
            "--event",
            "order.*",
        ],
    )
    .await;
    ok(&out);
    let out = hookbus(&base, &["endpoints", "list", "--app", "acme"]).await;
    ok(&out);
    assert!(out.stdout.contains("billing"), "{}", out.stdout);
    let out = hookbus(&base, &["endpoints", "list"]).await;
    assert!(
        !out.stdout.contains("billing"),
        "the default application has none: {}",
        out.stdout
    );
    let out = hookbus(
        &base,
        &[
            "publish",
            "order.created",
            "--app",
            "acme",
            "--data",
            r#"{"id":1}"#,
        ],
    )
    .await;
    ok(&out);
    assert_eq!(hub.app("acme").unwrap().endpoints().await.unwrap().len(), 1);
    // A token for the application's portal, used through HOOKBUS_APP.
    let out = hookbus(&base, &["apps", "create-token", "acme", "--name", "portal"]).await;
    ok(&out);
    let token = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("hbk_"))
        .expect("the token is printed")
        .to_string();
    let out = hookbus_env(
        &["endpoints", "list"],
        &[
            ("HOOKBUS_URL", &base),
            ("HOOKBUS_API_TOKEN", &token),
            ("HOOKBUS_APP", "acme"),
        ],
        None,
    )
    .await;
    ok(&out);
    assert!(out.stdout.contains("billing"), "{}", out.stdout);
    let out = hookbus(&base, &["apps", "tokens", "acme"]).await;
    ok(&out);
    assert!(
        out.stdout.contains("portal") && !out.stdout.contains(&token),
        "{}",
        out.stdout
    );
    // The catalogue.
    let file = dir.path().join("type.json");
    std::fs::write(
        &file,
        r#"{"name": "order.created", "description": "An order was placed"}"#,
    )
    .unwrap();
    ok(&hookbus(
        &base,
        &["event-types", "create", "--file", file.to_str().unwrap()],
    )
    .await);
    ok(&hookbus(&base, &["event-types", "deprecate", "order.created"]).await);
    let out = hookbus(&base, &["event-types", "list"]).await;
    ok(&out);
    assert!(
        out.stdout.contains("order.created") && out.stdout.contains("true"),
        "{}",
        out.stdout
    );
    // Deleting it takes its endpoints along.
    ok(&hookbus(&base, &["apps", "delete", "acme"]).await);
    let out = hookbus(&base, &["apps", "list"]).await;
    ok(&out);
    assert!(
        !out.stdout.contains("acme") && out.stdout.contains("default"),
        "{}",
        out.stdout
    );
    assert!(hub.store().endpoints().unwrap().is_empty());
    hub.shutdown().await;
}

#[actix_web::test]
async fn check_config_validates_the_cluster_section_and_names_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[cluster]\nnats_urls = [\"http://x\"]\nreplicas = 2\npartitions = 0\n",
    )
    .unwrap();
    let out = hookbus_env(&["check-config", "-c", bad.to_str().unwrap()], &[], None).await;
    assert_eq!(out.code, 2);
    for want in [
        "cluster.nats_urls[0]",
        "cluster.replicas",
        "cluster.partitions",
        "storage.master_key: cluster mode needs one key",
    ] {
        assert!(out.stderr.contains(want), "{want} in {}", out.stderr);
    }
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[storage]\nmaster_key = \"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\"\n",
    )
    .unwrap();
    // HOOKBUS_NATS_URLS alone turns cluster mode on.
    let out = hookbus_env(
        &["check-config", "-c", good.to_str().unwrap()],
        &[
            (
                "HOOKBUS_NATS_URLS",
                "nats://127.0.0.1:4222,nats://127.0.0.1:4223",
            ),
            ("HOOKBUS_NODE_NAME", "n-1"),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "cluster mode: node n-1 on NATS nats://127.0.0.1:4222, nats://127.0.0.1:4223 (replicas 3, partitions 64)"
        ),
        "{}",
        out.stdout
    );
}
