//! Dry runs: what a script would make of an event, without sending anything.
//! Used by `POST /v1/transforms/test`, `hookbus transform test` and the
//! dashboard's playground.

use std::collections::BTreeMap;
use std::time::Instant;

use rhai::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::{self, Logs, RunContext};
use super::run::{self, Rendered};
use super::{Compiled, ScriptLimits, convert};
use crate::event::{Event, PublishRequest};
use crate::model::spec::EndpointSpec;

/// The event of a dry run: a publish body (`{type, data, metadata?, id?}`)
/// or a body as delivered (the same plus `timestamp`), so a body copied from
/// a receiver's log can be pasted as is.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEvent {
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Payload.
    #[serde(default)]
    pub data: Value,
    /// Metadata (`{}` when absent).
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Event id (generated when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Acceptance time, RFC 3339 (now when absent).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Accepted (and ignored) so a publish body with one can be pasted.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl TestEvent {
    /// The event, or every problem as `(field, reason)`.
    pub fn into_event(self) -> Result<Event, Vec<(String, String)>> {
        let req = PublishRequest {
            event_type: self.event_type,
            data: self.data,
            metadata: self.metadata,
            id: self.id,
            idempotency_key: self.idempotency_key,
            traceparent: None,
        };
        let mut problems = req.problems();
        if let Some(t) = &self.timestamp {
            if time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                problems.push(("timestamp".into(), "must be an RFC 3339 time".into()));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut event = Event::accept(req);
        if let Some(t) = self.timestamp {
            event.timestamp = t;
        }
        Ok(event)
    }
}

/// The result of a dry run.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DryRun {
    /// The body: JSON when it parses as JSON, else the text; null when skipped or failed.
    pub output: Value,
    /// `content-type` plus any headers a `handler` script set.
    pub headers: BTreeMap<String, String>,
    /// The script skipped this event (`()` or `cancel = true`).
    pub skipped: bool,
    /// The script's error, if it failed: where (script, line, column), the
    /// line under a caret, and a hint.
    pub error: Option<String>,
    /// The error's kind (`compile`, `runtime`, `too_many_operations`,
    /// `timeout`, `bad_output`, …), if it failed.
    pub error_kind: Option<String>,
    /// Every `print`/`debug` line of the run, in order (at most 100 lines, 16 KiB).
    pub logs: Vec<String>,
    /// Lines left out of `logs` (over its bounds).
    pub logs_dropped: usize,
    /// Run time, µs.
    pub duration_us: u64,
}

/// Run `compiled` (or the default JSON body when `None`) for `event` as endpoint `spec` would.
pub fn dry_run(
    engine: &Engine,
    compiled: Option<&Compiled>,
    event: &Event,
    spec: &EndpointSpec,
    limits: &ScriptLimits,
) -> DryRun {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    crate::model::redact::apply(&mut value, &spec.redact);
    let started = Instant::now();
    let mut ctx = RunContext::new(&spec.name, limits.max_run_time.0);
    ctx.capture = Some(Logs::default());
    let (result, ctx) = context::with(ctx, || match compiled {
        None => Ok(Rendered::Send(run::Request {
            body: serde_json::to_vec(&value).unwrap_or_default().into(),
            content_type: "application/json".into(),
            headers: Vec::new(),
            method: None,
            url: None,
        })),
        Some(c) => run::run(
            engine,
            c,
            convert::to_dynamic(&value),
            spec,
            limits.max_output_bytes,
        ),
    });
    let logs = ctx.capture.unwrap_or_default();
    let mut out = DryRun {
        output: Value::Null,
        headers: BTreeMap::new(),
        skipped: false,
        error: None,
        error_kind: None,
        logs: logs.lines,
        logs_dropped: logs.dropped,
        duration_us: started.elapsed().as_micros() as u64,
    };
    match result {
        Ok(Rendered::Skip) => out.skipped = true,
        Ok(Rendered::Send(req)) => {
            out.headers = req.headers.into_iter().collect();
            out.headers.insert("content-type".into(), req.content_type);
            out.output = serde_json::from_slice(&req.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()));
        }
        Err(e) => {
            out.error = Some(e.to_string());
            out.error_kind = Some(e.kind().to_string());
        }
    }
    out
}

/// The endpoint a dry run of a script on its own stands in for (nothing is sent).
pub fn placeholder_spec() -> EndpointSpec {
    EndpointSpec::new("dry-run", "http://127.0.0.1/", &[])
}

/// A compile error as a dry run's answer (the CLI prints both the same way).
pub fn failed(e: &super::TransformError) -> DryRun {
    DryRun {
        output: Value::Null,
        headers: BTreeMap::new(),
        skipped: false,
        error: Some(e.to_string()),
        error_kind: Some(e.kind().to_string()),
        logs: Vec::new(),
        logs_dropped: 0,
        duration_us: 0,
    }
}
