//! The built-in formats (shipped as readable `scripts/*.rhai`, embedded in the
//! binary) and choosing an endpoint's script.

use std::sync::Arc;

use rhai::Engine;

use super::TransformError;
use super::script::{Compiled, compile};
use crate::endpoint::spec::{EndpointSpec, Format};

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
