//! Applications (tenants): the schema a host declares for each of its
//! customers, and its validation. Endpoints, events, deliveries and dead
//! letters belong to exactly one application; everything made through the
//! flat `/v1/…` routes (or the config file) belongs to the default one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::{RateLimit, RetryPolicy};

/// The id of the application the flat routes, the config file and the
/// library's unscoped calls work on. It always exists and cannot be deleted.
pub const DEFAULT_APP_ID: &str = "app_default";
/// The default application's `uid`.
pub const DEFAULT_APP_UID: &str = "default";

/// Whether `id` is the default application's (serde `skip_serializing_if`:
/// rows of the default application are written exactly as before apps existed).
pub fn is_default(id: &str) -> bool {
    id == DEFAULT_APP_ID
}

/// The default application's id (serde default of records written before apps).
pub fn default_id() -> String {
    DEFAULT_APP_ID.to_string()
}

/// An application as declared by the host (`POST /v1/apps`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The host's own unique key for this application (e.g. its customer
    /// id): 1–64 of `[A-Za-z0-9_.:-]`, not starting with `app_`. Usable in
    /// paths instead of the `app_…` id. Fixed once created.
    pub uid: String,
    /// Display name. Default: the uid.
    #[serde(default)]
    pub name: String,
    /// Free-form labels for the host.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Publishes to this application per second (token bucket); beyond it a
    /// publish answers 429 with `Retry-After`. None: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The retry policy of endpoints created in this application without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

impl AppSpec {
    /// A spec with only a uid.
    pub fn new(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            name: String::new(),
            metadata: BTreeMap::new(),
            rate_limit: None,
            retry: None,
        }
    }

    /// Every problem, as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = check_uid(&self.uid) {
            out.push(("uid".to_string(), e));
        }
        if self.name.chars().count() > 256 {
            out.push(("name".into(), "must be at most 256 characters".into()));
        }
        if self.metadata.len() > 64
            || self
                .metadata
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 1024)
        {
            out.push((
                "metadata".into(),
                "at most 64 entries, keys 1–64 bytes, values at most 1024 bytes".into(),
            ));
        }
        if let Some(r) = &self.rate_limit {
            out.extend(r.problems());
        }
        if let Some(r) = &self.retry {
            out.extend(
                r.problems()
                    .into_iter()
                    .map(|(f, m)| (format!("retry.{f}"), m)),
            );
        }
        out
    }

    /// Fill in defaults (the name).
    pub fn complete(&mut self) {
        if self.name.is_empty() {
            self.name = self.uid.clone();
        }
    }
}

/// Check a uid: 1–64 of `[A-Za-z0-9_.:-]`, not starting with `app_` (ids).
pub fn check_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() || uid.len() > 64 {
        return Err("must be 1..=64 characters".into());
    }
    if !uid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err("may only contain letters, digits, `_`, `-`, `.` and `:`".into());
    }
    if uid.starts_with("app_") {
        return Err("must not start with `app_` (reserved for ids)".into());
    }
    Ok(())
}

/// The `endpoint` metric label of an endpoint: its name in the default
/// application, `<app uid>/<name>` elsewhere (`/` never occurs in either), so
/// two applications' endpoints of the same name keep separate series and the
/// label set stays one value per endpoint.
pub fn endpoint_label(app_uid: &str, name: &str) -> String {
    if app_uid.is_empty() || app_uid == DEFAULT_APP_UID {
        name.to_string()
    } else {
        format!("{app_uid}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_checked_and_ids_are_reserved() {
        assert!(check_uid("customer-42").is_ok());
        assert!(check_uid("org:7.eu").is_ok());
        for bad in ["", "a b", "app_1", "x/y", &"a".repeat(65)] {
            assert!(check_uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut s = AppSpec::new("bad uid");
        s.rate_limit = Some(RateLimit {
            per_second: 0.0,
            burst: None,
        });
        s.retry = Some(RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        });
        let fields: Vec<String> = s.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields[0], "uid");
        assert!(fields.contains(&"rate_limit.per_second".to_string()));
        assert!(fields.iter().any(|f| f.starts_with("retry.")), "{fields:?}");
    }

    #[test]
    fn labels_keep_the_default_apps_names_and_prefix_the_others() {
        assert_eq!(endpoint_label(DEFAULT_APP_UID, "billing"), "billing");
        assert_eq!(endpoint_label("", "billing"), "billing");
        assert_eq!(endpoint_label("cust-42", "billing"), "cust-42/billing");
    }
}
