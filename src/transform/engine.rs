//! The one shared, immutable Rhai engine with the sandbox closed.

use std::sync::Arc;

use rhai::Engine;
use rhai::module_resolvers::DummyModuleResolver;

use super::limits::ScriptLimits;
use super::{context, helpers};

/// Build the sandboxed engine: no `eval`, no imports, every size and depth
/// limited, a missing map property an error (not a silent `()`), a run's
/// deadline and CPU slice checked from `on_progress`, `print`/`debug` to the
/// run's capture or the rate-limited log ([`super::context`]), and the
/// [`super::helpers`] library.
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
        // `event.data.total` on an event without `total` used to read `()`,
        // and `() >= 100.0` is false: the order was silently `filtered`.
        .set_fail_on_invalid_map_property(true)
        .on_progress(context::progress)
        .on_print(context::print)
        .on_debug(|s, _src, pos| context::print(&format!("[debug {pos}] {s}")));
    helpers::register(&mut engine);
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
