//! Dry runs: what a script would make of an event, without sending anything.
//! Used by `POST /v1/transforms/test` and `hookbus transform test`.

use std::collections::BTreeMap;
use std::time::Instant;

use rhai::Engine;
use serde::Serialize;
use serde_json::Value;

use super::run::{self, Rendered};
use super::{Compiled, convert};
use crate::event::Event;
use crate::model::spec::EndpointSpec;

/// The result of a dry run.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DryRun {
    /// The body: JSON when it parses as JSON, else the text; null when skipped or failed.
    pub output: Value,
    /// `content-type` plus any headers a `handler` script set.
    pub headers: BTreeMap<String, String>,
    /// The script skipped this event (`()` or `cancel = true`).
    pub skipped: bool,
    /// The script's error, if it failed.
    pub error: Option<String>,
    /// Run time, µs.
    pub duration_us: u64,
}

/// Run `compiled` (or the default JSON body when `None`) for `event` as endpoint `spec` would.
pub fn dry_run(
    engine: &Engine,
    compiled: Option<&Compiled>,
    event: &Event,
    spec: &EndpointSpec,
    max_output: usize,
) -> DryRun {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    crate::model::redact::apply(&mut value, &spec.redact);
    let started = Instant::now();
    let result = match compiled {
        None => Ok(Rendered::Send(run::Request {
            body: serde_json::to_vec(&value).unwrap_or_default().into(),
            content_type: "application/json".into(),
            headers: Vec::new(),
            method: None,
            url: None,
        })),
        Some(c) => run::run(engine, c, convert::to_dynamic(&value), spec, max_output),
    };
    let duration_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(Rendered::Skip) => DryRun {
            output: Value::Null,
            headers: BTreeMap::new(),
            skipped: true,
            error: None,
            duration_us,
        },
        Ok(Rendered::Send(req)) => {
            let mut headers: BTreeMap<String, String> = req.headers.into_iter().collect();
            headers.insert("content-type".into(), req.content_type);
            let output = serde_json::from_slice(&req.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()));
            DryRun {
                output,
                headers,
                skipped: false,
                error: None,
                duration_us,
            }
        }
        Err(e) => DryRun {
            output: Value::Null,
            headers: BTreeMap::new(),
            skipped: false,
            error: Some(format!("{} ({})", e, e.kind())),
            duration_us,
        },
    }
}
