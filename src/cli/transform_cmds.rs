//! `hookbus transform test`: offline (a script file on an event file), or
//! against a running server (a stored event, an endpoint's script or
//! settings). Both print the same answer: the dry run as JSON on stdout, and
//! the script's log lines and its error, readable (caret and all), on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::Remote;
use super::client::{self, Failure, Res};
use crate::config::Config;
use crate::transform::diagnose::Origin;
use crate::transform::dry_run::{self, TestEvent};
use crate::transform::{engine, script};

/// What `transform test` was given.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The `.rhai` script (read by the CLI). With `--endpoint` it runs in
    /// place of that endpoint's script; without FILE the endpoint's own runs.
    pub file: Option<PathBuf>,
    /// A JSON event file (`-` for stdin): a publish body
    /// `{"type", "data", "metadata"?}` or a body as delivered (with `id`, `timestamp`).
    #[arg(long, conflicts_with = "event_id")]
    pub event: Option<PathBuf>,
    /// A stored event, by id (asks the server).
    #[arg(long = "event-id")]
    pub event_id: Option<String>,
    /// Run as this endpoint (id or name): its redaction, env, URL and
    /// headers, and its script unless FILE is given (asks the server).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// `env` variables for the script, as KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Config file whose `[transforms]` limits apply offline (defaults otherwise).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

/// Run it, offline unless it needs the server.
pub async fn test(args: TestArgs, remote: &Remote) -> ExitCode {
    let result = if args.event_id.is_some() || args.endpoint.is_some() {
        remote_test(&args, remote).await
    } else {
        offline(&args)
    };
    match result {
        Ok(answer) => report(&answer),
        Err(f) => client::fail(f),
    }
}

fn read_script(args: &TestArgs) -> Res<Option<String>> {
    args.file
        .as_ref()
        .map(|f| {
            std::fs::read_to_string(f)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", f.display())))
        })
        .transpose()
}

fn read_event(args: &TestArgs) -> Res<Option<Value>> {
    args.event.as_deref().map(client::read_json).transpose()
}

fn offline(args: &TestArgs) -> Res<Value> {
    let (Some(file), Some(event_file)) = (&args.file, &args.event) else {
        return Err(Failure::usage(
            "give a script FILE and --event FILE (or --event-id / --endpoint to ask a running server)",
        ));
    };
    let limits = match args.config.as_deref().map(Config::from_file).transpose() {
        Ok(c) => c.map(|c| c.transforms).unwrap_or_default(),
        Err(e) => return Err(Failure::usage(e.to_string())),
    };
    let source = read_script(args)?.unwrap_or_default();
    let raw = read_event(args)?.unwrap_or_default();
    let event: TestEvent = serde_json::from_value(raw)
        .map_err(|e| Failure::usage(format!("event file {}: {e}", event_file.display())))?;
    let event = event.into_event().map_err(|p| {
        let (f, m) = p.into_iter().next().unwrap_or_default();
        Failure::usage(format!("event file {}: {f}: {m}", event_file.display()))
    })?;
    let engine = engine::build(&limits);
    // The file is the user's own, read by the CLI: its lines may be quoted.
    let origin = Origin {
        script: file.display().to_string(),
        ..Origin::inline(&source)
    };
    let env = args.env.iter().cloned().collect();
    let answer = match script::compile_as(&engine, &source, env, origin) {
        Ok(compiled) => {
            let spec = dry_run::placeholder_spec();
            dry_run::dry_run(&engine, Some(&compiled), &event, &spec, &limits)
        }
        Err(e) => dry_run::failed(&e),
    };
    serde_json::to_value(answer).map_err(|e| Failure::usage(e.to_string()))
}

async fn remote_test(args: &TestArgs, remote: &Remote) -> Res<Value> {
    let mut body = json!({});
    if let Some(s) = read_script(args)? {
        body["script"] = s.into();
    }
    if let Some(e) = &args.endpoint {
        body["endpoint_id"] = e.clone().into();
    }
    match (read_event(args)?, &args.event_id) {
        (Some(e), None) => body["event"] = e,
        (None, Some(id)) => body["event_id"] = id.clone().into(),
        _ => return Err(Failure::usage("give --event FILE or --event-id ID")),
    }
    if !args.env.is_empty() {
        let env: serde_json::Map<String, Value> = args
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        body["env"] = env.into();
    }
    client::call(remote, "POST", "/v1/transforms/test", Some(&body)).await
}

/// JSON on stdout; logs and the error, readable, on stderr. Exit 1 when the script failed.
fn report(answer: &Value) -> ExitCode {
    super::output::print_json(answer);
    for line in answer["logs"].as_array().into_iter().flatten() {
        eprintln!("log: {}", line.as_str().unwrap_or_default());
    }
    if let Some(n) = answer["logs_dropped"].as_u64().filter(|n| *n > 0) {
        eprintln!("log: ({n} more lines not kept)");
    }
    match answer["error"].as_str() {
        // A script that does not compile is like a wrong command line: 2.
        Some(e) if matches!(answer["error_kind"].as_str(), Some("compile" | "contract")) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}
