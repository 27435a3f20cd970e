//! `hookbus endpoints …`: short blocks for people, the server's JSON with
//! `--format json`.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::EndpointCommand;
use super::client::{Failure, call, enc, fail, finish, query, read_json};
use super::output::{block, code_ranges, highlight, table, text};

const ENDPOINT_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("STATUS", "status"),
    ("URL", "url"),
    ("EVENTS", "events"),
    ("ID", "id"),
];

/// `hookbus endpoints …`.
pub async fn endpoints(cmd: EndpointCommand) -> ExitCode {
    use EndpointCommand as E;
    match cmd {
        E::List {
            status,
            event,
            remote,
        } => {
            let q = query(&[
                ("status", status.as_deref()),
                ("event", event.as_deref()),
                ("limit", Some("1000")),
            ]);
            let r = call(&remote, "GET", &format!("/v1/endpoints{q}"), None).await;
            finish(&remote, r, |v| {
                table(
                    v["data"].as_array().map_or(&[][..], Vec::as_slice),
                    ENDPOINT_COLUMNS,
                )
            })
        }
        E::Get { id, remote } => {
            let r = call(&remote, "GET", &format!("/v1/endpoints/{}", enc(&id)), None).await;
            finish(&remote, r, |v| endpoint_block(v, true))
        }
        E::Create {
            file,
            name,
            endpoint_url,
            events,
            remote,
        } => {
            let body = match file {
                Some(f) => read_json(&f),
                None => match (name, endpoint_url) {
                    (Some(n), Some(u)) => Ok(json!({"name": n, "url": u, "events": events})),
                    _ => Err(Failure::usage("give --file, or --name and --endpoint-url")),
                },
            };
            let r = match body {
                Ok(b) => call(&remote, "POST", "/v1/endpoints", Some(&b)).await,
                Err(e) => Err(e),
            };
            finish(&remote, r, created)
        }
        E::Update { id, file, remote } => {
            let r = match read_json(&file) {
                Ok(b) => {
                    let path = format!("/v1/endpoints/{}", enc(&id));
                    call(&remote, "PATCH", &path, Some(&b)).await
                }
                Err(e) => Err(e),
            };
            finish(&remote, r, |v| {
                format!("Updated {}\n{}", text(&v["name"]), endpoint_block(v, true))
            })
        }
        E::Delete { id, remote } => {
            let r = call(
                &remote,
                "DELETE",
                &format!("/v1/endpoints/{}", enc(&id)),
                None,
            )
            .await;
            let r = r.map(|_| json!({"deleted": id}));
            finish(&remote, r, |_| format!("Deleted {id}\n"))
        }
        E::Pause { id, remote } => set_status(&remote, &id, "pause").await,
        E::Resume { id, remote } => set_status(&remote, &id, "resume").await,
        E::Test { id, remote } => test_send(&remote, &id).await,
        E::RotateSecret {
            id,
            grace,
            revoke_previous,
            remote,
        } => {
            let path = format!("/v1/endpoints/{}/rotate-secret", enc(&id));
            let body = json!({"grace": grace, "revoke_previous": revoke_previous});
            let r = call(&remote, "POST", &path, Some(&body)).await;
            finish(&remote, r, |v| rotated(&id, v))
        }
    }
}

/// "shop paused; 2 deliveries wait" — one line, with what waits.
async fn set_status(remote: &super::Remote, id: &str, verb: &str) -> ExitCode {
    let path = format!("/v1/endpoints/{}/{verb}", enc(id));
    let stats_path = format!("/v1/endpoints/{}/stats", enc(id));
    let depth = || async {
        call(remote, "GET", &stats_path, None)
            .await
            .ok()
            .and_then(|s| s["queue_depth"].as_u64())
    };
    // What waits at the moment of the change: a resumed queue starts draining at once.
    let before = if verb == "resume" {
        depth().await
    } else {
        None
    };
    let r = match call(remote, "POST", &path, None).await {
        Ok(v) if verb == "resume" => Ok((v, before)),
        Ok(v) => Ok((v, depth().await)),
        Err(e) => Err(e),
    };
    match r {
        Ok((v, _)) if remote.format == super::OutputFormat::Json => {
            super::output::print_json(&v);
            ExitCode::SUCCESS
        }
        Ok((v, depth)) => {
            let name = text(&v["name"]);
            let waiting = match depth {
                Some(0) => "nothing queued".to_string(),
                Some(1) => "1 delivery waits".to_string(),
                Some(n) => format!("{n} deliveries wait"),
                None => "queue depth unknown".to_string(),
            };
            let state = if verb == "pause" { "paused" } else { "resumed" };
            let waiting = match (verb, depth) {
                ("resume", Some(n)) if n > 0 => format!("{n} queued deliveries are being sent"),
                _ => waiting,
            };
            println!("{name} {state}; {waiting}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Print the test attempt plainly; a failed attempt exits 1.
async fn test_send(remote: &super::Remote, id: &str) -> ExitCode {
    let path = format!("/v1/endpoints/{}/test", enc(id));
    let v = match call(remote, "POST", &path, None).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let ok = v["success"].as_bool() == Some(true);
    if remote.format == super::OutputFormat::Json {
        super::output::print_json(&v);
    } else {
        let status = v["status_code"]
            .as_u64()
            .map_or_else(|| "no response".to_string(), |s| format!("HTTP {s}"));
        let ms = v["latency_ms"].as_f64().unwrap_or(0.0);
        if v["filtered"].as_bool() == Some(true) {
            println!(
                "Test event {} to {id}: the endpoint's transform skipped it, nothing was sent",
                text(&v["event_id"])
            );
        } else if ok {
            println!(
                "Test event {} delivered to {id}: {status} in {ms:.1} ms",
                text(&v["event_id"])
            );
        } else {
            let why = v["error"]
                .as_str()
                .unwrap_or("the status is not a success code");
            println!(
                "Test event {} to {id} failed: {status} in {ms:.1} ms: {why}",
                text(&v["event_id"])
            );
        }
        if let Some(body) = v["response_body"].as_str().filter(|b| !b.is_empty()) {
            let shown: String = body.chars().take(200).collect();
            println!("  response: {shown}");
        }
        if let Some(dlv) = v["delivery_id"].as_str() {
            println!("  in history as delivery {dlv} (marked test)");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The created endpoint in a short block, its secret last and marked "shown once".
fn created(v: &Value) -> String {
    let mut out = format!(
        "Created endpoint {} ({})\n",
        text(&v["name"]),
        text(&v["id"])
    );
    out += &block(&[
        ("status", text(&v["status"])),
        ("url", format!("{} {}", text(&v["method"]), text(&v["url"]))),
        ("events", events(v)),
        ("signing", text(&v["signing"]["scheme"])),
    ]);
    out += &secrets_notice(&v["signing"]["secrets"], "Signing secret");
    out
}

fn secrets_notice(secrets: &Value, what: &str) -> String {
    let list: Vec<&str> = secrets
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| *s != "***")
        .collect();
    if list.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{what} (shown once: save it now; later reads show ***):\n");
    for s in list {
        out += &format!("  {}\n", highlight(s));
    }
    out
}

fn rotated(id: &str, v: &Value) -> String {
    let mut out = format!("Rotated the signing secret of {id}.\n");
    let retiring = v["retiring"].as_array().cloned().unwrap_or_default();
    if retiring.is_empty() {
        out += "  no other secret signs any more\n";
    }
    for r in retiring {
        out += &format!(
            "  a previous secret keeps signing until {}\n",
            text(&r["expires_at"])
        );
    }
    out += &secrets_notice(&json!([v["secret"]]), "New signing secret");
    out
}

fn events(v: &Value) -> String {
    match v["events"].as_array() {
        Some(a) if !a.is_empty() => a.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => "every event type".into(),
    }
}

/// One endpoint as an aligned block (secrets stay `***`).
pub fn endpoint_block(v: &Value, full: bool) -> String {
    let mut out = format!("{} ({})\n", text(&v["name"]), text(&v["id"]));
    let codes: Vec<u16> = v["success_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_u64().and_then(|c| u16::try_from(c).ok()))
        .collect();
    let shape = match (&v["transform"], v["format"].as_str()) {
        (Value::Object(t), _) => match t.get("path").and_then(Value::as_str) {
            Some(p) => format!("transform {p}"),
            None => "transform (inline script)".into(),
        },
        (_, Some(f)) => f.to_string(),
        _ => "json".into(),
    };
    let secrets = v["signing"]["secrets"].as_array().map_or(0, Vec::len);
    let mut rows = vec![
        ("status", text(&v["status"])),
        ("url", format!("{} {}", text(&v["method"]), text(&v["url"]))),
        ("events", events(v)),
        (
            "description",
            v["description"].as_str().unwrap_or("").to_string(),
        ),
        ("format", shape),
        (
            "signing",
            format!(
                "{} ({secrets} secret{})",
                text(&v["signing"]["scheme"]),
                if secrets == 1 { "" } else { "s" }
            ),
        ),
    ];
    if full {
        let r = &v["retry"];
        let cb = &v["circuit_breaker"];
        let headers: Vec<String> = v["headers"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        rows.extend([
            (
                "auth",
                v["auth"]["type"].as_str().unwrap_or("none").to_string(),
            ),
            ("headers", headers.join(", ")),
            (
                "delivery",
                format!(
                    "timeout {}, {} in flight, ordering {}",
                    text(&v["timeout"]),
                    text(&v["max_in_flight"]),
                    text(&v["ordering"])
                ),
            ),
            (
                "rate limit",
                match &v["rate_limit"] {
                    Value::Object(rl) => format!(
                        "{}/s, burst {}",
                        text(rl.get("per_second").unwrap_or(&Value::Null)),
                        text(rl.get("burst").unwrap_or(&Value::Null))
                    ),
                    _ => String::new(),
                },
            ),
            (
                "retry",
                format!(
                    "{}, {} attempts, {} up to {}, {} jitter",
                    text(&r["strategy"]),
                    text(&r["max_attempts"]),
                    text(&r["initial_delay"]),
                    text(&r["max_delay"]),
                    text(&r["jitter"])
                ),
            ),
            (
                "breaker",
                format!(
                    "opens after {} failures, probes after {}",
                    text(&cb["failure_threshold"]),
                    text(&cb["reset_timeout"])
                ),
            ),
            ("success codes", code_ranges(&codes)),
            ("expire after", text(&v["expire_after"])),
            ("disable after", text(&v["disable_after"])),
            ("created", text(&v["created_at"])),
            ("updated", text(&v["updated_at"])),
        ]);
    }
    out += &block(&rows);
    out
}
