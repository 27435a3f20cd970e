//! Talking to a running server: one call helper, the failure type every
//! client command shares, and small lookups (endpoint names for tables).
//!
//! Exit codes: 0 done, 1 the server (or the network) said no, 2 the command
//! line itself is wrong.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::Remote;
use super::output::print_json;

/// A failed command: what to tell the user, and how to exit.
pub struct Failure {
    /// The message, printed after `error: `.
    pub message: String,
    /// 1 for refusals and network errors, 2 for bad command lines.
    pub code: u8,
}

impl Failure {
    /// The server or the network refused.
    pub fn remote(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// The command line is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

/// The result of one command.
pub type Res<T = Value> = Result<T, Failure>;

/// One API call; problem documents become a `Failure` carrying their detail.
pub async fn call(remote: &Remote, method: &str, path: &str, body: Option<&Value>) -> Res {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .finish();
    let path = scoped(remote, path);
    let url = format!("{}{path}", remote.url.trim_end_matches('/'));
    let mut req = match method {
        "GET" => client.get(&url),
        "POST" => client.post(&url),
        "PATCH" => client.patch(&url),
        "DELETE" => client.delete(&url),
        _ => return Err(Failure::usage(format!("unsupported method {method}"))),
    };
    if let Some(t) = &remote.token {
        req = req.bearer_auth(t);
    }
    let sent = match body {
        Some(b) => req.send_json(b).await,
        None => req.send().await,
    };
    let mut resp =
        sent.map_err(|e| Failure::remote(format!("cannot reach {}: {e}", remote.url)))?;
    let bytes = resp
        .body()
        .limit(64 << 20)
        .await
        .map_err(|e| Failure::remote(format!("bad response: {e}")))?;
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if resp.status().is_success() {
        return Ok(value);
    }
    let mut detail = value.get("detail").and_then(Value::as_str).map_or_else(
        || String::from_utf8_lossy(&bytes).into_owned(),
        str::to_string,
    );
    for e in value["errors"].as_array().into_iter().flatten() {
        detail += &format!("\n  - {}: {}", text_of(&e["loc"]), text_of(&e["msg"]));
    }
    Err(Failure::remote(format!(
        "{} {}: {detail}",
        resp.status().as_u16(),
        resp.status().canonical_reason().unwrap_or("")
    )))
}

/// With `--app`, an application's routes go under `/v1/apps/{app}`.
fn scoped(remote: &Remote, path: &str) -> String {
    match &remote.app {
        Some(app) if crate::api::scope::is_scoped(path.split('?').next().unwrap_or(path)) => {
            path.replacen("/v1/", &format!("/v1/apps/{}/", enc(app)), 1)
        }
        _ => path.to_string(),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text_of).collect::<Vec<_>>().join("."),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// End a command: JSON as the server sent it with `--format json`, else
/// `human(value)` (a string printed as is).
pub fn finish(remote: &Remote, result: Res, human: impl FnOnce(&Value) -> String) -> ExitCode {
    match result {
        Ok(v) => {
            if remote.format == super::OutputFormat::Json {
                if !v.is_null() {
                    print_json(&v);
                }
            } else {
                print!("{}", human(&v));
            }
            ExitCode::SUCCESS
        }
        Err(f) => fail(f),
    }
}

/// Print a failure and turn it into its exit code.
pub fn fail(f: Failure) -> ExitCode {
    eprintln!("error: {}", f.message);
    ExitCode::from(f.code)
}

/// A JSON file, or stdin for `-`.
pub fn read_json(path: &Path) -> Res {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{}: not valid JSON: {e}", path.display())))
}

/// A path segment or query value, percent-encoded.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?k=v&…` of the pairs that have a value.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
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

/// Every endpoint (all pages), in name order.
pub async fn all_endpoints(remote: &Remote) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = query(&[("limit", Some("1000")), ("cursor", cursor.as_deref())]);
        let page = call(remote, "GET", &format!("/v1/endpoints{q}"), None).await?;
        out.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(out),
        }
    }
}

/// Endpoint id → name, so tables show the names people chose.
pub async fn endpoint_names(remote: &Remote) -> Res<HashMap<String, String>> {
    Ok(all_endpoints(remote)
        .await?
        .into_iter()
        .filter_map(|e| {
            Some((
                e["id"].as_str()?.to_string(),
                e["name"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Replace `field` (an endpoint id) by the endpoint's name in every row, for display.
pub fn name_rows(rows: &[Value], field: &str, names: &HashMap<String, String>) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(name) = r[field].as_str().and_then(|id| names.get(id)) {
                r[field] = Value::String(name.clone());
            }
            r
        })
        .collect()
}
