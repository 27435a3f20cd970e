//! The one shared, immutable Rhai engine with the sandbox closed.

use std::sync::Arc;

use rhai::Engine;
use rhai::module_resolvers::DummyModuleResolver;

use super::limits::ScriptLimits;

/// Build the sandboxed engine: no `eval`, no imports, `print`/`debug` to the
/// log, every size and depth limited.
pub fn build(limits: &ScriptLimits) -> Arc<Engine> {
    let mut engine = Engine::new();
    engine
        .set_module_resolver(DummyModuleResolver::new())
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(1024)
        .set_max_functions(256)
        .set_strict_variables(true)
        .on_print(|s| tracing::info!(target: "hookbus::script", "{s}"))
        .on_debug(|s, src, pos| tracing::debug!(target: "hookbus::script", source = src.unwrap_or(""), %pos, "{s}"));
    engine.disable_symbol("eval");
    // Maps have `to_json()` built in; give arrays the same.
    engine.register_fn("to_json", |a: &mut rhai::Array| {
        super::convert::to_json(&rhai::Dynamic::from_array(a.clone()))
            .map(|v| v.to_string())
            .unwrap_or_default()
    });
    // Immutable from here on: re-entrant and shared across worker threads.
    Arc::new(engine)
}
