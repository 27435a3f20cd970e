//! An endpoint's `transform` setting as a plain value; compiling and
//! running it is `transform`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An endpoint's `transform`: an inline `script` or a `path` to a `.rhai` file, plus `env`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    /// Inline Rhai source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// A `.rhai` file, read when the endpoint is created, updated or loaded at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub path: Option<PathBuf>,
    /// Variables the script sees as `env` (second `transform` argument, or `webhook.env`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl TransformSpec {
    /// An inline script.
    pub fn inline(script: impl Into<String>) -> Self {
        Self {
            script: Some(script.into()),
            path: None,
            env: BTreeMap::new(),
        }
    }

    /// Problems with the declaration itself (not compilation), as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match (&self.script, &self.path) {
            (Some(_), Some(_)) => vec![(
                "transform".into(),
                "give either `script` or `path`, not both".into(),
            )],
            (None, None) => vec![("transform".into(), "needs `script` or `path`".into())],
            _ => Vec::new(),
        }
    }
}
