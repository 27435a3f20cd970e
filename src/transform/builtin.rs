//! The built-in formats (shipped as readable `scripts/*.rhai`, embedded in the
//! binary) and choosing an endpoint's script.

use std::sync::Arc;

use rhai::Engine;

use super::TransformError;
use super::diagnose::Origin;
use super::script::{Compiled, check_size, compile_as};
use crate::model::spec::{EndpointSpec, Format};

/// `scripts/slack.rhai`.
pub const SLACK: &str = include_str!("../../scripts/slack.rhai");
/// `scripts/discord.rhai`.
pub const DISCORD: &str = include_str!("../../scripts/discord.rhai");
/// `scripts/teams.rhai`.
pub const TEAMS: &str = include_str!("../../scripts/teams.rhai");

/// The script an endpoint runs: its own `transform`, a built-in format, or
/// none (plain JSON, which skips the engine entirely).
pub fn for_endpoint(
    engine: &Engine,
    spec: &EndpointSpec,
    max_script_bytes: usize,
) -> Result<Option<Arc<Compiled>>, TransformError> {
    if let Some(t) = &spec.transform {
        let source = t.source()?;
        check_size(&source, max_script_bytes)?;
        // A file's lines are not quoted back (a path may come through the API).
        let origin = match &t.path {
            Some(p) => Origin::file(p),
            None => Origin::inline(&source),
        };
        return compile_as(
            engine,
            &source,
            t.env.clone(),
            origin.of_endpoint(&spec.name),
        )
        .map(Some);
    }
    let (src, name) = match spec.format {
        Format::Json => return Ok(None),
        Format::Slack => (SLACK, "scripts/slack.rhai"),
        Format::Discord => (DISCORD, "scripts/discord.rhai"),
        Format::Teams => (TEAMS, "scripts/teams.rhai"),
    };
    // The built-in sources are public: their lines may be quoted.
    let origin = Origin {
        script: name.into(),
        ..Origin::inline(src)
    };
    compile_as(
        engine,
        src,
        Default::default(),
        origin.of_endpoint(&spec.name),
    )
    .map(Some)
}

/// An endpoint's script compiled before its save reaches the bus, so a
/// large script's compile time is spent on a blocking thread, not on the
/// bus's (which would stall publishing).
pub struct Precompiled {
    name: String,
    transform: Option<crate::model::transform::TransformSpec>,
    format: Format,
    result: Result<Option<Arc<Compiled>>, TransformError>,
}

impl Precompiled {
    /// Compile what `spec` runs.
    pub fn compile(engine: &Engine, spec: &EndpointSpec, max_script_bytes: usize) -> Self {
        Self {
            name: spec.name.clone(),
            transform: spec.transform.clone(),
            format: spec.format,
            result: for_endpoint(engine, spec, max_script_bytes),
        }
    }

    /// The result, if it was compiled from what `spec` runs (the bus may
    /// have merged the spec since).
    pub fn for_spec(
        self,
        spec: &EndpointSpec,
    ) -> Option<Result<Option<Arc<Compiled>>, TransformError>> {
        (self.name == spec.name && self.transform == spec.transform && self.format == spec.format)
            .then_some(self.result)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::transform::run::{Rendered, run};
    use crate::transform::{ScriptLimits, convert, engine};

    fn render(format: Format) -> Value {
        let engine = engine::build(&ScriptLimits::default());
        let mut spec = EndpointSpec::new("x", "http://127.0.0.1/", &[]);
        spec.format = format;
        let compiled = for_endpoint(&engine, &spec, 1 << 20).unwrap().unwrap();
        let event = json!({
            "id": "evt_1", "type": "agent.a7.failed", "timestamp": "2026-01-02T03:04:05.678Z",
            "data": {"agent": "a7", "attempts": 3, "tags": ["x", "y"]}, "metadata": {}
        });
        match run(
            &engine,
            &compiled,
            convert::to_dynamic(&event),
            &spec,
            1 << 20,
        )
        .unwrap()
        {
            Rendered::Send(r) => serde_json::from_slice(&r.body).unwrap(),
            Rendered::Skip => panic!("built-in formats never skip"),
        }
    }

    #[test]
    fn slack_format_builds_header_fields_and_context_blocks() {
        assert_eq!(
            render(Format::Slack),
            json!({
                "text": "agent.a7.failed: evt_1",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "agent.a7.failed"}},
                    {"type": "section", "fields": [
                        {"type": "mrkdwn", "text": "*agent*\na7"},
                        {"type": "mrkdwn", "text": "*attempts*\n3"},
                        {"type": "mrkdwn", "text": "*tags*\n[\"x\",\"y\"]"}
                    ]},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "evt_1 · 2026-01-02T03:04:05.678Z"}]}
                ]
            })
        );
    }

    #[test]
    fn discord_format_builds_one_coloured_embed() {
        assert_eq!(
            render(Format::Discord),
            json!({"embeds": [{
                "title": "agent.a7.failed",
                "description": "Event evt_1",
                "color": 15548997,
                "fields": [
                    {"name": "agent", "value": "a7", "inline": true},
                    {"name": "attempts", "value": "3", "inline": true},
                    {"name": "tags", "value": "[\"x\",\"y\"]", "inline": true}
                ],
                "timestamp": "2026-01-02T03:04:05.678Z"
            }]})
        );
    }

    #[test]
    fn teams_format_builds_a_message_card_with_facts() {
        assert_eq!(
            render(Format::Teams),
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": "agent.a7.failed evt_1",
                "themeColor": "D13438",
                "title": "agent.a7.failed",
                "sections": [{
                    "activityTitle": "evt_1",
                    "activitySubtitle": "2026-01-02T03:04:05.678Z",
                    "facts": [
                        {"name": "agent", "value": "a7"},
                        {"name": "attempts", "value": "3"},
                        {"name": "tags", "value": "[\"x\",\"y\"]"}
                    ]
                }]
            })
        );
    }

    #[test]
    fn json_format_skips_the_engine() {
        let engine = engine::build(&ScriptLimits::default());
        let spec = EndpointSpec::new("x", "http://127.0.0.1/", &[]);
        assert!(for_endpoint(&engine, &spec, 1 << 20).unwrap().is_none());
    }
}
