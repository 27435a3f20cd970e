//! `hookbus publish`, `deliveries` and `stats`: tables that name
//! endpoints, newest deliveries first, a hint when more pages exist
//! (`dlq` is in `dlq_cmds`).

use std::process::ExitCode;

use serde_json::{Value, json};

use super::client::{Failure, call, enc, endpoint_names, fail, finish, name_rows, query};
use super::output::{block, key_values, print_json, table, text};
use super::{DeliveryCommand, Remote};

const DELIVERY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("EVENT", "event_id"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attempts"),
    ("UPDATED", "updated_at"),
    ("NEXT ATTEMPT", "next_attempt_at"),
    ("LAST ERROR", "last_error"),
];
const ATTEMPT_COLUMNS: &[(&str, &str)] = &[
    ("#", "attempt"),
    ("AT", "at"),
    ("RESULT", "result"),
    ("STATUS", "status_code"),
    ("MS", "latency_ms"),
    ("ERROR", "error"),
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

/// The `data` array of a list answer.
pub(super) fn rows(v: &Value) -> &[Value] {
    v["data"].as_array().map_or(&[][..], Vec::as_slice)
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
        Err(e) => return fail(Failure::usage(format!("--data is not valid JSON: {e}"))),
    };
    let mut body = json!({"type": event_type, "data": data});
    if let Some(k) = key {
        body["idempotency_key"] = json!(k);
    }
    let r = call(remote, "POST", "/v1/events", Some(&body)).await;
    let names = match (&r, remote.format) {
        (Ok(_), super::OutputFormat::Table) => endpoint_names(remote).await.unwrap_or_default(),
        _ => Default::default(),
    };
    finish(remote, r, |v| {
        let deliveries = v["deliveries"].as_array().cloned().unwrap_or_default();
        let mut out = match deliveries.len() {
            0 => format!(
                "Published {} ({event_type}): no endpoint subscribes to it\n",
                text(&v["id"])
            ),
            1 => format!("Published {} ({event_type}): 1 delivery\n", text(&v["id"])),
            n => format!(
                "Published {} ({event_type}): {n} deliveries\n",
                text(&v["id"])
            ),
        };
        if !deliveries.is_empty() {
            let named = name_rows(&deliveries, "endpoint_id", &names);
            out += &table(&named, &[("DELIVERY", "id"), ("ENDPOINT", "endpoint_id")]);
        }
        out
    })
}

/// `hookbus deliveries …`.
pub async fn deliveries(cmd: DeliveryCommand) -> ExitCode {
    match cmd {
        DeliveryCommand::List {
            endpoint,
            status,
            limit,
            cursor,
            remote,
        } => {
            let limit_s = limit.to_string();
            let q = query(&[
                ("status", status.as_deref()),
                ("limit", Some(&limit_s)),
                ("cursor", cursor.as_deref()),
                ("order", Some("desc")),
            ]);
            let path = format!("/v1/endpoints/{}/deliveries{q}", enc(&endpoint));
            let r = call(&remote, "GET", &path, None).await;
            finish(&remote, r, |v| {
                let mut out = table(rows(v), DELIVERY_COLUMNS);
                if let Some(c) = v["next_cursor"].as_str() {
                    out += &format!(
                        "(newest first; more: hookbus deliveries list {endpoint} --cursor {c})\n"
                    );
                }
                out
            })
        }
        DeliveryCommand::Get { id, remote } => {
            let r = call(
                &remote,
                "GET",
                &format!("/v1/deliveries/{}", enc(&id)),
                None,
            )
            .await;
            let names = match (&r, remote.format) {
                (Ok(_), super::OutputFormat::Table) => {
                    endpoint_names(&remote).await.unwrap_or_default()
                }
                _ => Default::default(),
            };
            finish(&remote, r, |v| {
                let ep = v["endpoint_id"].as_str().unwrap_or_default();
                let mut out = format!("{}\n", text(&v["id"]));
                out += &block(&[
                    (
                        "endpoint",
                        names.get(ep).cloned().unwrap_or_else(|| ep.to_string()),
                    ),
                    ("event", text(&v["event_id"])),
                    ("status", text(&v["status"])),
                    ("attempts", text(&v["attempts"])),
                    ("created", text(&v["created_at"])),
                    ("updated", text(&v["updated_at"])),
                    (
                        "next attempt",
                        v["next_attempt_at"].as_str().unwrap_or("").to_string(),
                    ),
                    (
                        "last error",
                        v["last_error"].as_str().unwrap_or("").to_string(),
                    ),
                ]);
                let attempts = v["attempt_history"].as_array().cloned().unwrap_or_default();
                if !attempts.is_empty() {
                    out += "\n";
                    out += &table(&attempts, ATTEMPT_COLUMNS);
                }
                out
            })
        }
        DeliveryCommand::Retry { id, remote } => {
            let r = call(
                &remote,
                "POST",
                &format!("/v1/deliveries/{}/retry", enc(&id)),
                None,
            )
            .await;
            finish(&remote, r, |_| format!("{id} queued again\n"))
        }
    }
}

/// `hookbus stats [endpoint]`.
pub async fn stats(remote: &Remote, endpoint: Option<&str>) -> ExitCode {
    if let Some(ep) = endpoint {
        let r = call(
            remote,
            "GET",
            &format!("/v1/endpoints/{}/stats", enc(ep)),
            None,
        )
        .await;
        return finish(remote, r, |v| {
            format!(
                "{} ({})\n{}",
                text(&v["name"]),
                text(&v["endpoint_id"]),
                indent(&key_values(v, ""))
            )
        });
    }
    let list = match super::client::all_endpoints(remote).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let mut out = Vec::new();
    for ep in &list {
        let id = ep["id"].as_str().unwrap_or_default();
        match call(
            remote,
            "GET",
            &format!("/v1/endpoints/{}/stats", enc(id)),
            None,
        )
        .await
        {
            Ok(s) => out.push(s),
            Err(e) => return fail(e),
        }
    }
    if remote.format == super::OutputFormat::Json {
        print_json(&json!({"data": out}));
        return ExitCode::SUCCESS;
    }
    print!("{}", table(&out, STATS_COLUMNS));
    ExitCode::SUCCESS
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}
