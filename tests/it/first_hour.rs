//! A newcomer's first hour: the install script finds the real libclang, the
//! README tour delivers exactly what it shows, and the log tells what
//! happens to pending work across retries, crashes and shutdowns.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::utils::*;

fn install_deps_check(dirs: &str) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/install-deps.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("--check")
        .env("INSTALL_DEPS_LIB_DIRS", dirs)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn install_deps_tells_the_c_libclang_from_the_cpp_one() {
    let has_cxx = Command::new("sh")
        .args([
            "-c",
            "command -v c++ || command -v g++ || command -v clang++",
        ])
        .output()
        .unwrap()
        .status
        .success();
    let case = |files: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        install_deps_check(dir.path().to_str().unwrap())
    };
    // What a fresh Debian with llvm-14 has: the C++ library only.
    let (code, out) = case(&["libclang-cpp.so.14", "libclang-cpp.so"]);
    assert!(out.contains("libclang: missing"), "{out}");
    assert_ne!(code, 0);
    for real in [
        "libclang-14.so.1",
        "libclang.so",
        "libclang.so.13",
        "libclang-14.so",
    ] {
        let (code, out) = case(&["libclang-cpp.so.14", real]);
        assert!(
            out.contains("libclang: present") && out.contains(real),
            "{real}: {out}"
        );
        if has_cxx {
            assert_eq!(code, 0, "{real}: {out}");
        }
    }
    let (_, out) = install_deps_check("/nonexistent-dir");
    assert!(out.contains("libclang: missing"), "{out}");
}

/// A `hookbus serve` child with its log (at `RUST_LOG`) written to `log`.
fn serve_logged(config: &Path, env: &[(&str, &str)], log: &Path) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "-c"])
        .arg(config)
        .env("RUST_LOG", "info")
        .env_remove("HOOKBUS_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Wait up to `timeout` until the text of `log` `shows` what is looked for;
/// whether it did, and the text as it then is.
async fn wait_for_log(
    log: &Path,
    timeout: Duration,
    shows: impl Fn(&str) -> bool,
) -> (bool, String) {
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    let ok = eventually(timeout, || shows(&read())).await;
    (ok, read())
}

/// SIGTERM, then wait for the exit (the graceful path a user's Ctrl-C takes).
async fn terminate(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let ok = eventually(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    })
    .await;
    assert!(ok, "server did not exit after SIGTERM");
}

#[actix_web::test]
async fn the_readme_tour_makes_exactly_one_delivery_and_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("hookbus.example.toml");
    // The tour's receiver listens on 127.0.0.1:9000; if something else holds
    // that port here, run the same file with only the port changed.
    let (rx, config) = match TestReceiver::try_start_at("127.0.0.1:9000", Reply::status(204)) {
        Some(rx) => (rx, example.clone()),
        None => {
            let rx = TestReceiver::start(204);
            let text = std::fs::read_to_string(&example)
                .unwrap()
                .replace("127.0.0.1:9000", &rx.addr().to_string());
            // Next to the original, so its relative paths mean the same.
            let copy = dir.path().join("tour.toml");
            std::fs::write(&copy, text).unwrap();
            (rx, copy)
        }
    };
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let mut child = serve_logged(
        &config,
        &[
            ("HOOKBUS_LISTEN", &listen),
            ("HOOKBUS_DATA", data.to_str().unwrap()),
        ],
        &log,
    );
    let base = format!("http://{listen}");
    wait_healthy(&base).await;
    // Step 3, as the README writes it.
    let resp = awc::Client::new()
        .post(format!("{base}/v1/events"))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"type": "order.created", "data": {"id": 42, "total": "19.90"}}"#)
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.count(), 1, "exactly one delivery");
    let body = got[0].json();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"]["id"], 42);
    assert!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    terminate(&mut child).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let noisy: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .filter(|l| !l.contains("No master key configured"))
        .collect();
    assert!(
        noisy.is_empty(),
        "the tour logs no warning: {noisy:#?}\n{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour codes in a log file");
    assert!(
        text.contains("Stopped; 0 deliveries stay pending"),
        "{text}"
    );
}

/// A failed request is logged inside its request span: method, path,
/// status, request id and the error, and none of the fields the default
/// tracing-actix-web span formats for every request (docs/BENCHMARKS.md).
#[actix_web::test]
async fn a_refused_request_is_logged_with_its_request_span() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig::write(dir.path(), "");
    let log = dir.path().join("serve.log");
    let mut child = serve_logged(&cfg.path, &[], &log);
    wait_healthy(&cfg.base).await;
    let resp = awc::Client::new()
        .post(format!("{}/v1/events", cfg.base))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"type": "a.b", "data": "#)
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (logged, text) = wait_for_log(&log, Duration::from_secs(5), |t| {
        t.contains("http.status_code=400")
    })
    .await;
    terminate(&mut child).await;
    assert!(logged, "no line for the refused request:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("http.status_code=400"))
        .unwrap();
    assert!(
        line.contains("HTTP request{http.method=POST http.target=/v1/events request_id="),
        "{line}"
    );
    assert!(line.contains("exception.message=malformed JSON"), "{line}");
    for dropped in [
        "http.user_agent",
        "http.client_ip",
        "otel.name",
        "http.route",
    ] {
        assert!(!line.contains(dropped), "{dropped} in {line}");
    }
}

#[actix_web::test]
async fn the_log_tells_retries_resumed_work_and_what_stays_pending() {
    let dir = tempfile::tempdir().unwrap();
    let down = format!("http://127.0.0.1:{}/hook", free_port());
    let cfg = ServerConfig::write(dir.path(), &patient_endpoint("down", &down, "30s"));
    let log1 = dir.path().join("first.log");
    let mut child = serve_logged(&cfg.path, &[], &log1);
    wait_healthy(&cfg.base).await;
    let client = awc::Client::new();
    for i in 0..3 {
        let resp = client
            .post(format!("{}/v1/events", cfg.base))
            .send_json(&serde_json::json!({"type": "order.created", "data": {"n": i}}))
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
    }
    let (retried, text) = wait_for_log(&log1, Duration::from_secs(10), |t| {
        t.matches("Attempt failed; retry scheduled").count() == 3
    })
    .await;
    assert!(retried, "each scheduled retry is logged at info:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("retry scheduled"))
        .unwrap();
    assert!(line.contains("INFO") && line.contains("down"), "{line}");
    assert!(
        line.contains("delivery=\"dlv_") && line.contains("attempt=1"),
        "{line}"
    );
    let next = line
        .split("next_attempt_at=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(humantime::parse_rfc3339(next).is_ok(), "{line}");
    assert!(line.contains("reason="), "status or error named: {line}");
    // Crash, restart: the log says what was picked up.
    child.kill().unwrap();
    child.wait().unwrap();
    let log2 = dir.path().join("second.log");
    let mut child = serve_logged(&cfg.path, &[], &log2);
    wait_healthy(&cfg.base).await;
    let (resumed, text) = wait_for_log(&log2, Duration::from_secs(5), |t| {
        t.contains("3 pending deliveries resumed, next attempt at ")
    })
    .await;
    assert!(resumed, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("pending deliveries resumed"))
        .unwrap();
    assert!(line.contains("down"), "names the endpoint: {line}");
    let at = line
        .split("next attempt at ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('.');
    assert!(humantime::parse_rfc3339(at).is_ok(), "{line}");
    terminate(&mut child).await;
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(
        text.contains("Stopped; 3 deliveries stay pending for the next start."),
        "{text}"
    );
}

#[test]
fn serve_on_a_port_in_use_says_so_and_exits_1_without_aborting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig::write(dir.path(), "");
    let port = cfg.base.rsplit(':').next().unwrap();
    // Hold the port the config names.
    let _taken = std::net::TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    let out = cfg.command().stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    assert!(!stderr.contains("pthread"), "{stderr}");
}
