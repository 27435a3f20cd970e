//! Client commands: call a running server's API and print the answer.
//! Errors print the server's problem detail and exit non-zero.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::output::print;
use super::{DeliveryCommand, DlqCommand, DlqFilter, EndpointCommand, Remote};

/// A failed call: what to tell the user.
struct Failure(String);

type Res = Result<Value, Failure>;

async fn call(remote: &Remote, method: &str, path: &str, body: Option<&Value>) -> Res {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .finish();
    let url = format!("{}{path}", remote.url.trim_end_matches('/'));
    let mut req = match method {
        "GET" => client.get(&url),
        "POST" => client.post(&url),
        "PATCH" => client.patch(&url),
        "DELETE" => client.delete(&url),
        _ => return Err(Failure(format!("unsupported method {method}"))),
    };
    if let Some(t) = &remote.token {
        req = req.bearer_auth(t);
    }
    let sent = match body {
        Some(b) => req.send_json(b).await,
        None => req.send().await,
    };
    let mut resp = sent.map_err(|e| Failure(format!("cannot reach {}: {e}", remote.url)))?;
    let bytes = resp
        .body()
        .limit(64 << 20)
        .await
        .map_err(|e| Failure(format!("bad response: {e}")))?;
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if resp.status().is_success() {
        return Ok(value);
    }
    let detail = value.get("detail").and_then(Value::as_str).map_or_else(
        || String::from_utf8_lossy(&bytes).into_owned(),
        str::to_string,
    );
    Err(Failure(format!(
        "{} {}: {detail}",
        resp.status().as_u16(),
        resp.status().canonical_reason().unwrap_or("")
    )))
}

fn finish(remote: &Remote, result: Res, columns: &[(&str, &str)]) -> ExitCode {
    match result {
        Ok(v) => {
            if !v.is_null() {
                print(remote.format, &v, columns);
            }
            ExitCode::SUCCESS
        }
        Err(Failure(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn read_json(path: &Path) -> Result<Value, Failure> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure(format!("{}: not valid JSON: {e}", path.display())))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

const ENDPOINT_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("ID", "id"),
    ("STATUS", "status"),
    ("URL", "url"),
    ("EVENTS", "events"),
];
const DELIVERY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("EVENT", "event_id"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attempts"),
    ("UPDATED", "updated_at"),
    ("LAST ERROR", "last_error"),
];
const DLQ_COLUMNS: &[(&str, &str)] = &[
    ("DELIVERY", "delivery_id"),
    ("ENDPOINT", "endpoint_id"),
    ("DEAD AT", "dead_at"),
    ("ATTEMPTS", "attempts"),
    ("REASON", "reason"),
];
const STATS_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("STATUS", "status"),
    ("CIRCUIT", "breaker"),
    ("DELIVERED", "delivered"),
    ("DEAD", "dead"),
    ("SUCCESS", "success_rate"),
    ("P50 MS", "latency_ms.p50"),
    ("P99 MS", "latency_ms.p99"),
    ("RETRIES", "retries"),
    ("QUEUE", "queue_depth"),
    ("DLQ", "dead_letters"),
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
            finish(&remote, r, ENDPOINT_COLUMNS)
        }
        E::Get { id, remote } => finish(
            &remote,
            call(&remote, "GET", &format!("/v1/endpoints/{}", enc(&id)), None).await,
            &[],
        ),
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
                    _ => Err(Failure("give --file, or --name and --endpoint-url".into())),
                },
            };
            let r = match body {
                Ok(b) => call(&remote, "POST", "/v1/endpoints", Some(&b)).await,
                Err(e) => Err(e),
            };
            finish(&remote, r, &[])
        }
        E::Update { id, file, remote } => {
            let r = match read_json(&file) {
                Ok(b) => {
                    call(
                        &remote,
                        "PATCH",
                        &format!("/v1/endpoints/{}", enc(&id)),
                        Some(&b),
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            finish(&remote, r, &[])
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
            finish(&remote, r, &[])
        }
        E::Pause { id, remote } => action(&remote, &id, "pause", None).await,
        E::Resume { id, remote } => action(&remote, &id, "resume", None).await,
        E::Test { id, remote } => action(&remote, &id, "test", None).await,
        E::RotateSecret { id, grace, remote } => {
            action(&remote, &id, "rotate-secret", Some(json!({"grace": grace}))).await
        }
    }
}

async fn action(remote: &Remote, id: &str, verb: &str, body: Option<Value>) -> ExitCode {
    let r = call(
        remote,
        "POST",
        &format!("/v1/endpoints/{}/{verb}", enc(id)),
        body.as_ref(),
    )
    .await;
    finish(remote, r, &[])
}

/// `hookbus publish`.
pub async fn publish(
    remote: &Remote,
    event_type: &str,
    data: &str,
    key: Option<String>,
) -> ExitCode {
    let data: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --data is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let mut body = json!({"type": event_type, "data": data});
    if let Some(k) = key {
        body["idempotency_key"] = json!(k);
    }
    let r = call(remote, "POST", "/v1/events", Some(&body)).await;
    finish(remote, r, &[])
}

/// `hookbus deliveries …`.
pub async fn deliveries(cmd: DeliveryCommand) -> ExitCode {
    match cmd {
        DeliveryCommand::List {
            endpoint,
            status,
            limit,
            remote,
        } => {
            let limit = limit.to_string();
            let q = query(&[("status", status.as_deref()), ("limit", Some(&limit))]);
            let r = call(
                &remote,
                "GET",
                &format!("/v1/endpoints/{}/deliveries{q}", enc(&endpoint)),
                None,
            )
            .await;
            finish(&remote, r, DELIVERY_COLUMNS)
        }
        DeliveryCommand::Get { id, remote } => finish(
            &remote,
            call(
                &remote,
                "GET",
                &format!("/v1/deliveries/{}", enc(&id)),
                None,
            )
            .await,
            &[],
        ),
        DeliveryCommand::Retry { id, remote } => finish(
            &remote,
            call(
                &remote,
                "POST",
                &format!("/v1/deliveries/{}/retry", enc(&id)),
                None,
            )
            .await,
            &[],
        ),
    }
}

fn filter_body(f: &DlqFilter) -> Value {
    json!({"endpoint": f.endpoint, "since": f.since, "until": f.until})
}

fn filter_query(f: &DlqFilter, extra: &[(&str, Option<&str>)]) -> String {
    let mut pairs = vec![
        ("endpoint", f.endpoint.as_deref()),
        ("since", f.since.as_deref()),
        ("until", f.until.as_deref()),
    ];
    pairs.extend_from_slice(extra);
    query(&pairs)
}

/// `hookbus dlq …`.
pub async fn dlq(cmd: DlqCommand) -> ExitCode {
    match cmd {
        DlqCommand::List { filter, remote } => {
            let r = call(
                &remote,
                "GET",
                &format!(
                    "/v1/dead-letters{}",
                    filter_query(&filter, &[("limit", Some("1000"))])
                ),
                None,
            )
            .await;
            finish(&remote, r, DLQ_COLUMNS)
        }
        DlqCommand::Purge {
            filter,
            dry_run,
            remote,
        } => {
            let dry = dry_run.then_some("true");
            let r = call(
                &remote,
                "DELETE",
                &format!(
                    "/v1/dead-letters{}",
                    filter_query(&filter, &[("dry_run", dry)])
                ),
                None,
            )
            .await;
            finish(&remote, r, DLQ_COLUMNS)
        }
        DlqCommand::Replay {
            filter,
            ids,
            dry_run,
            remote,
        } => replay(&remote, &filter, ids, dry_run).await,
    }
}

/// Replay in chunks, so a terminal can show progress over large queues.
async fn replay(remote: &Remote, filter: &DlqFilter, ids: Vec<String>, dry_run: bool) -> ExitCode {
    let mut body = filter_body(filter);
    if !ids.is_empty() {
        body["ids"] = json!(ids);
    }
    body["dry_run"] = json!(true);
    let planned = match call(remote, "POST", "/v1/dead-letters/replay", Some(&body)).await {
        Ok(v) => v,
        Err(e) => return finish(remote, Err(e), &[]),
    };
    if dry_run {
        return finish(remote, Ok(planned), DLQ_COLUMNS);
    }
    let all: Vec<String> = planned["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["delivery_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(all.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} dead letters replayed ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut replayed = 0usize;
    for chunk in all.chunks(100) {
        let body = json!({"ids": chunk});
        match call(remote, "POST", "/v1/dead-letters/replay", Some(&body)).await {
            Ok(v) => replayed += v["count"].as_u64().unwrap_or(0) as usize,
            Err(e) => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                return finish(remote, Err(e), &[]);
            }
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    finish(remote, Ok(json!({"replayed": replayed})), &[])
}

/// `hookbus stats [endpoint]`.
pub async fn stats(remote: &Remote, endpoint: Option<&str>) -> ExitCode {
    if let Some(ep) = endpoint {
        return finish(
            remote,
            call(
                remote,
                "GET",
                &format!("/v1/endpoints/{}/stats", enc(ep)),
                None,
            )
            .await,
            &[],
        );
    }
    let list = match call(remote, "GET", "/v1/endpoints?limit=1000", None).await {
        Ok(v) => v,
        Err(e) => return finish(remote, Err(e), &[]),
    };
    let mut rows = Vec::new();
    for ep in list["data"].as_array().into_iter().flatten() {
        let id = ep["id"].as_str().unwrap_or_default();
        match call(
            remote,
            "GET",
            &format!("/v1/endpoints/{}/stats", enc(id)),
            None,
        )
        .await
        {
            Ok(s) => rows.push(s),
            Err(e) => return finish(remote, Err(e), &[]),
        }
    }
    finish(remote, Ok(json!({"data": rows})), STATS_COLUMNS)
}
