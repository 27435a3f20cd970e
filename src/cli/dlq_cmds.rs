//! `hookbus dlq`: list, show, replay and purge dead letters, with the same
//! filters; a confirmation before deleting every dead letter.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

use super::client::{Failure, Res, call, endpoint_names, fail, finish, name_rows, query};
use super::history::rows;
use super::output::table;
use super::when;
use super::{DlqCommand, DlqFilter, Remote};

const DLQ_COLUMNS: &[(&str, &str)] = &[
    ("DELIVERY", "delivery_id"),
    ("ENDPOINT", "endpoint_id"),
    ("EVENT", "event_id"),
    ("DEAD AT", "dead_at"),
    ("ATTEMPTS", "attempts"),
    ("REASON", "reason"),
];
/// The filter as query pairs, with `--since 1h` style values turned into times.
fn filter_pairs(f: &DlqFilter) -> Res<Vec<(&'static str, Option<String>)>> {
    let since = when::flag("since", f.since.as_deref()).map_err(Failure::usage)?;
    let until = when::flag("until", f.until.as_deref()).map_err(Failure::usage)?;
    Ok(vec![
        ("endpoint", f.endpoint.clone()),
        ("since", since),
        ("until", until),
    ])
}

fn filter_query(f: &DlqFilter, extra: &[(&str, Option<&str>)]) -> Res<String> {
    let owned = filter_pairs(f)?;
    let mut pairs: Vec<(&str, Option<&str>)> =
        owned.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    pairs.extend_from_slice(extra);
    Ok(query(&pairs))
}

fn filter_body(f: &DlqFilter) -> Res<Value> {
    let mut body = json!({});
    for (k, v) in filter_pairs(f)? {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    Ok(body)
}

fn is_unfiltered(f: &DlqFilter) -> bool {
    f.endpoint.is_none() && f.since.is_none() && f.until.is_none()
}

/// `hookbus dlq …`.
pub async fn dlq(cmd: DlqCommand) -> ExitCode {
    match cmd {
        DlqCommand::List {
            filter,
            limit,
            cursor,
            remote,
        } => {
            let limit_s = limit.to_string();
            let r = match filter_query(
                &filter,
                &[("limit", Some(&limit_s)), ("cursor", cursor.as_deref())],
            ) {
                Ok(q) => call(&remote, "GET", &format!("/v1/dead-letters{q}"), None).await,
                Err(e) => Err(e),
            };
            let names = match (&r, remote.format) {
                (Ok(_), super::OutputFormat::Table) => {
                    endpoint_names(&remote).await.unwrap_or_default()
                }
                _ => Default::default(),
            };
            finish(&remote, r, |v| {
                let mut out = table(&name_rows(rows(v), "endpoint_id", &names), DLQ_COLUMNS);
                if let Some(c) = v["next_cursor"].as_str() {
                    out += &format!("(more: hookbus dlq list --cursor {c})\n");
                }
                out
            })
        }
        DlqCommand::Purge {
            filter,
            dry_run,
            yes,
            remote,
        } => purge(&remote, &filter, dry_run, yes).await,
        DlqCommand::Replay {
            filter,
            ids,
            dry_run,
            remote,
        } => replay(&remote, &filter, ids, dry_run).await,
    }
}

/// Purge; with no filter at all this deletes everything, so it asks first
/// (or needs `--yes` where nobody can answer).
async fn purge(remote: &Remote, filter: &DlqFilter, dry_run: bool, yes: bool) -> ExitCode {
    if !dry_run && !yes && is_unfiltered(filter) {
        let planned = match filter_query(filter, &[("dry_run", Some("true"))]) {
            Ok(q) => call(remote, "DELETE", &format!("/v1/dead-letters{q}"), None).await,
            Err(e) => Err(e),
        };
        let count = match planned {
            Ok(v) => v["count"].as_u64().unwrap_or(0),
            Err(e) => return fail(e),
        };
        if count > 0 && !confirm(count) {
            return fail(Failure::usage(format!(
                "not purged: without --endpoint/--since/--until this deletes all {count} dead letters; \
                 confirm at the prompt or pass --yes"
            )));
        }
    }
    let dry = dry_run.then_some("true");
    let r = match filter_query(filter, &[("dry_run", dry)]) {
        Ok(q) => call(remote, "DELETE", &format!("/v1/dead-letters{q}"), None).await,
        Err(e) => Err(e),
    };
    finish(remote, r, |v| {
        let n = v["count"].as_u64().unwrap_or(0);
        if dry_run {
            let mut out = format!("would purge {n} dead letter{}\n", plural(n));
            out += &table(rows(v), DLQ_COLUMNS);
            out
        } else {
            format!("purged {n} dead letter{}\n", plural(n))
        }
    })
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Ask on the terminal; no terminal means no.
fn confirm(count: u64) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("Delete all {count} dead letters for good? Type 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    answer.trim().eq_ignore_ascii_case("yes")
}

/// Replay in chunks, so a terminal can show progress over large queues.
async fn replay(remote: &Remote, filter: &DlqFilter, ids: Vec<String>, dry_run: bool) -> ExitCode {
    let mut body = match filter_body(filter) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    if !ids.is_empty() {
        body["ids"] = json!(ids);
    }
    body["dry_run"] = json!(true);
    let planned = match call(remote, "POST", "/v1/dead-letters/replay", Some(&body)).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if dry_run {
        return finish(remote, Ok(planned), |v| {
            let n = v["count"].as_u64().unwrap_or(0);
            format!(
                "would replay {n} dead letter{}\n{}",
                plural(n),
                table(rows(v), DLQ_COLUMNS)
            )
        });
    }
    let all: Vec<String> = rows(&planned)
        .iter()
        .filter_map(|d| d["delivery_id"].as_str().map(str::to_string))
        .collect();
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
    let mut replayed = 0u64;
    for chunk in all.chunks(100) {
        let body = json!({"ids": chunk});
        match call(remote, "POST", "/v1/dead-letters/replay", Some(&body)).await {
            Ok(v) => replayed += v["count"].as_u64().unwrap_or(0),
            Err(e) => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                return fail(e);
            }
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    finish(remote, Ok(json!({"replayed": replayed})), |_| {
        format!("replayed {replayed} dead letter{}\n", plural(replayed))
    })
}
