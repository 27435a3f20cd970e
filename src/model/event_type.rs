//! The event-type catalogue's schema: a type name (the publish grammar), a
//! description, an optional JSON Schema (draft 2020-12) for its `data`, a
//! deprecated flag and an example payload. The schema itself is compiled and
//! checked by `directory::catalogue`; this is the value and its plain checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event type as declared (`POST /v1/event-types`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeSpec {
    /// The type, in the publish grammar (`order.created`); unique.
    pub name: String,
    /// What the event means, for receivers.
    #[serde(default)]
    pub description: String,
    /// A JSON Schema (draft 2020-12) every published `data` must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Still accepted, with a `Warning` header on the publish answer.
    #[serde(default)]
    pub deprecated: bool,
    /// An example `data` (checked against `schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

/// Longest description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Largest schema or example, as JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

impl EventTypeSpec {
    /// Problems that need no schema compiler, as `(field, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = crate::event::validate_event_type(&self.name) {
            out.push(("name".into(), e));
        } else if crate::event::is_reserved_type(&self.name) {
            out.push((
                "name".into(),
                "the `hookbus.` prefix is reserved for hookbus's own operational events".into(),
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            out.push((
                "description".into(),
                format!("must be at most {MAX_DESCRIPTION} characters"),
            ));
        }
        if let Some(s) = &self.schema {
            if !(s.is_object() || s.is_boolean()) {
                out.push((
                    "schema".into(),
                    "must be a JSON Schema object (or true/false)".into(),
                ));
            }
        }
        for (field, v) in [("schema", &self.schema), ("example", &self.example)] {
            if v.as_ref()
                .is_some_and(|v| serde_json::to_vec(v).map_or(0, |b| b.len()) > MAX_SCHEMA_BYTES)
            {
                out.push((
                    field.into(),
                    format!("must be at most {MAX_SCHEMA_BYTES} bytes as JSON"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_publish_grammar_and_hookbus_is_reserved() {
        let mut t = EventTypeSpec {
            name: "order.created".into(),
            description: String::new(),
            schema: Some(serde_json::json!({"type": "object"})),
            deprecated: false,
            example: None,
        };
        assert!(t.problems().is_empty());
        t.name = "order..created".into();
        assert_eq!(t.problems()[0].0, "name");
        t.name = "hookbus.test".into();
        assert_eq!(t.problems()[0].0, "name");
        t.name = "a".into();
        t.schema = Some(serde_json::json!(3));
        assert_eq!(t.problems()[0].0, "schema");
    }
}
