//! `[events]` and `[apps]`: the event-type catalogue's enforcement and the
//! bounds on applications (which also bound the `endpoint` metric label set).

use serde::{Deserialize, Serialize};

/// `[events]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Refuse (422) a publish whose type is not in the event-type catalogue.
    /// Default false: unknown types are accepted; known ones are still
    /// checked against their schema. Env `HOOKBUS_REQUIRE_KNOWN_TYPES`.
    pub require_known_types: bool,
}

/// `[apps]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppsConfig {
    /// Applications besides the default one. Default 1000.
    pub max_apps: usize,
    /// Endpoints per application (the default application is not limited).
    /// Default 100. With `max_apps` it bounds the `endpoint` metric label:
    /// at most `max_apps × max_endpoints_per_app` series per metric beyond
    /// the default application's endpoints.
    pub max_endpoints_per_app: usize,
}

impl Default for AppsConfig {
    fn default() -> Self {
        Self {
            max_apps: 1000,
            max_endpoints_per_app: 100,
        }
    }
}

impl AppsConfig {
    /// Problems, as config-file messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_apps > 1_000_000 {
            out.push("apps.max_apps: must be at most 1000000".into());
        }
        if self.max_endpoints_per_app == 0 || self.max_endpoints_per_app > 10_000 {
            out.push("apps.max_endpoints_per_app: must be between 1 and 10000".into());
        }
        out
    }
}

/// `HOOKBUS_REQUIRE_KNOWN_TYPES`: `true`/`1` or `false`/`0`.
pub fn parse_flag(name: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(format!("{name}: `{other}` is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bound_apps_and_their_endpoints() {
        let a = AppsConfig::default();
        assert_eq!((a.max_apps, a.max_endpoints_per_app), (1000, 100));
        assert!(a.problems().is_empty());
        let bad = AppsConfig {
            max_apps: 2_000_000,
            max_endpoints_per_app: 0,
        };
        assert_eq!(bad.problems().len(), 2);
        assert_eq!(parse_flag("X", "TRUE"), Ok(true));
        assert!(parse_flag("X", "maybe").is_err());
    }
}
