//! The built-in formats (shipped as readable `scripts/*.rhai`, embedded in the
//! binary) and choosing an endpoint's script.

use std::sync::Arc;

use rhai::Engine;

use super::TransformError;
use super::script::{Compiled, compile};
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
) -> Result<Option<Arc<Compiled>>, TransformError> {
    if let Some(t) = &spec.transform {
        return compile(engine, &t.source()?, t.env.clone()).map(Some);
    }
    let src = match spec.format {
        Format::Json => return Ok(None),
        Format::Slack => SLACK,
        Format::Discord => DISCORD,
        Format::Teams => TEAMS,
    };
    compile(engine, src, Default::default()).map(Some)
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
        let compiled = for_endpoint(&engine, &spec).unwrap().unwrap();
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
        assert!(for_endpoint(&engine, &spec).unwrap().is_none());
    }
}
