//! Sandbox limits for scripts (`[transforms]` in the config file).

use serde::{Deserialize, Serialize};

use crate::model::Dur;

/// Limits applied to every script run. Defaults suit transforms of
/// webhook-sized events; raise them deliberately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptLimits {
    /// Operations per run (roughly 5–10 per simple expression). Default 100000.
    pub max_operations: u64,
    /// Function call depth. Default 32.
    pub max_call_levels: usize,
    /// Expression nesting depth at top level. Default 64.
    pub max_expr_depth: usize,
    /// Expression nesting depth inside functions. Default 32.
    pub max_function_expr_depth: usize,
    /// Longest string, in bytes. Default 1048576 (1 MiB).
    pub max_string_size: usize,
    /// Largest array (counted recursively). Default 10000.
    pub max_array_size: usize,
    /// Largest object map (counted recursively). Default 10000.
    pub max_map_size: usize,
    /// Largest rendered body, in bytes. Default 1048576 (1 MiB).
    pub max_output_bytes: usize,
    /// Longest time one run may spend running (time waiting for a CPU
    /// share while other endpoints' scripts run is not counted). Default 250ms.
    pub max_run_time: Dur,
    /// Largest script source, in bytes (inline or file). Default 262144 (256 KiB).
    pub max_script_bytes: usize,
    /// Scripts running at once (CPU shares, handed between endpoints fairly).
    /// Default: CPU cores.
    pub workers: usize,
    /// The one directory whose `.rhai` files an API caller may name as
    /// `transform.path` (relative paths resolve inside it). Default none:
    /// through the API scripts are sent inline, and only the config file
    /// names files — otherwise anyone who may create an endpoint could make
    /// the server read any file it can read.
    pub scripts_dir: Option<std::path::PathBuf>,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_output_bytes: 1 << 20,
            max_run_time: Dur::millis(250),
            max_script_bytes: 256 << 10,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            scripts_dir: None,
        }
    }
}

impl ScriptLimits {
    /// Every problem, as `transforms.<field>: reason`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let zero = [
            ("max_operations", self.max_operations == 0),
            ("max_call_levels", self.max_call_levels == 0),
            ("max_expr_depth", self.max_expr_depth == 0),
            ("max_function_expr_depth", self.max_function_expr_depth == 0),
            ("max_string_size", self.max_string_size == 0),
            ("max_array_size", self.max_array_size == 0),
            ("max_map_size", self.max_map_size == 0),
            ("max_output_bytes", self.max_output_bytes == 0),
            ("max_run_time", self.max_run_time.0.is_zero()),
            ("max_script_bytes", self.max_script_bytes == 0),
        ];
        for (name, is_zero) in zero {
            if is_zero {
                out.push(format!(
                    "transforms.{name}: must be greater than zero (limits cannot be switched off)"
                ));
            }
        }
        if self.workers == 0 || self.workers > 256 {
            out.push("transforms.workers: must be between 1 and 256".into());
        }
        out
    }
}
