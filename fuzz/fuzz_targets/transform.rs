//! Shipped Rhai transforms (built-in formats and examples) fed random events:
//! a script may fail or skip, but the engine never panics and stays in its limits.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use hookbus::endpoint::spec::EndpointSpec;
use hookbus::transform::{ScriptLimits, dry_run::dry_run, engine, script};
use hookbus::{Event, PublishRequest};
use libfuzzer_sys::fuzz_target;

const SCRIPTS: [&str; 6] = [
    include_str!("../../scripts/slack.rhai"),
    include_str!("../../scripts/discord.rhai"),
    include_str!("../../scripts/teams.rhai"),
    include_str!("../../scripts/examples/field-mapping.rhai"),
    include_str!("../../scripts/examples/filter.rhai"),
    include_str!("../../scripts/examples/redact.rhai"),
];

struct Fixture {
    engine: Arc<rhai::Engine>,
    compiled: Vec<Arc<script::Compiled>>,
    spec: EndpointSpec,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let engine = engine::build(&ScriptLimits::default());
        let compiled = SCRIPTS
            .iter()
            .map(|s| script::compile(&engine, s, BTreeMap::new()).expect("shipped scripts compile"))
            .collect();
        Fixture {
            engine,
            compiled,
            spec: EndpointSpec::new("fuzz", "https://example.invalid/hook", &["**"]),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let f = fixture();
    let compiled = &f.compiled[pick as usize % f.compiled.len()];
    let event = Event::accept(PublishRequest::new("order.created", value));
    // Failing or skipping is fine; panicking, hanging or blowing the limits is not.
    let _ = dry_run(&f.engine, Some(compiled), &event, &f.spec, 1 << 20);
});
