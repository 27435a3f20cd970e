//! The event-type catalogue: names, descriptions, JSON Schemas (draft
//! 2020-12, compiled once when saved) and what a publish must satisfy.

use std::sync::Arc;

use super::{Directory, DirectoryError};
use crate::event::PublishRequest;
use crate::ids::now_ms;
use crate::model::event_type::EventTypeSpec;
use crate::store::Changes;
use crate::store::records::EventTypeRecord;

/// Violations reported per event, at most (a payload failing everything
/// would otherwise make an answer as large as its schema).
pub const MAX_VIOLATIONS: usize = 32;
/// Longest violation message kept (they may quote the offending value).
const MAX_MESSAGE: usize = 300;

/// A catalogued type with its compiled schema.
pub struct CatalogueEntry {
    /// As stored.
    pub record: EventTypeRecord,
    validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for CatalogueEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueEntry")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// What a publish check found that does not refuse it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Deprecated types among the published events (each once).
    pub deprecated: Vec<String>,
}

fn short(msg: String) -> String {
    if msg.chars().count() <= MAX_MESSAGE {
        return msg;
    }
    let mut s: String = msg.chars().take(MAX_MESSAGE).collect();
    s.push('…');
    s
}

impl CatalogueEntry {
    /// Check and compile; every problem as `(field, reason)` (example
    /// violations located by JSON pointer under `example`).
    pub fn compile(record: EventTypeRecord) -> Result<Self, Vec<(String, String)>> {
        let mut problems = record.spec.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let validator = match &record.spec.schema {
            None => None,
            // Without the HTTP and file resolvers, a remote `$ref` is an
            // error here rather than a fetch.
            Some(s) => match jsonschema::draft202012::new(s) {
                Ok(v) => Some(v),
                Err(e) => return Err(vec![("schema".into(), short(e.to_string()))]),
            },
        };
        let entry = Self { record, validator };
        if let Some(example) = &entry.record.spec.example {
            problems.extend(
                entry
                    .violations(example)
                    .into_iter()
                    .map(|(p, m)| (format!("example{p}"), m)),
            );
        }
        if problems.is_empty() {
            Ok(entry)
        } else {
            Err(problems)
        }
    }

    /// `(JSON pointer within data, message)` for each way `data` fails the schema.
    pub fn violations(&self, data: &serde_json::Value) -> Vec<(String, String)> {
        let Some(v) = &self.validator else {
            return Vec::new();
        };
        v.iter_errors(data)
            .take(MAX_VIOLATIONS)
            .map(|e| (e.instance_path().as_str().to_string(), short(e.to_string())))
            .collect()
    }
}

impl Directory {
    /// The catalogue, by name.
    pub fn event_types(&self) -> Vec<Arc<CatalogueEntry>> {
        self.read().types.values().cloned().collect()
    }

    /// One catalogued type.
    pub fn event_type(&self, name: &str) -> Option<Arc<CatalogueEntry>> {
        self.read().types.get(name).cloned()
    }

    /// Add a type; an existing name is a conflict.
    pub async fn create_event_type(
        &self,
        spec: EventTypeSpec,
    ) -> Result<Arc<CatalogueEntry>, DirectoryError> {
        let _w = self.writes.lock().await;
        if self.event_type(&spec.name).is_some() {
            return Err(DirectoryError::Conflict(format!(
                "event type `{}` is already in the catalogue",
                spec.name
            )));
        }
        let now = now_ms();
        self.save_type(EventTypeRecord {
            spec,
            created_at: now,
            updated_at: now,
        })
        .await
    }

    /// Replace a type's entry (its name stays).
    pub async fn update_event_type(
        &self,
        name: &str,
        spec: EventTypeSpec,
    ) -> Result<Arc<CatalogueEntry>, DirectoryError> {
        let _w = self.writes.lock().await;
        let old = self
            .event_type(name)
            .ok_or_else(|| DirectoryError::NotFound(format!("event type `{name}`")))?;
        if spec.name != name {
            return Err(DirectoryError::Invalid(vec![(
                "name".into(),
                "cannot be changed; create the new type and deprecate this one".into(),
            )]));
        }
        self.save_type(EventTypeRecord {
            spec,
            created_at: old.record.created_at,
            updated_at: now_ms(),
        })
        .await
    }

    async fn save_type(&self, rec: EventTypeRecord) -> Result<Arc<CatalogueEntry>, DirectoryError> {
        let mut c = Changes::new();
        c.event_type(&rec);
        let entry = Arc::new(CatalogueEntry::compile(rec).map_err(DirectoryError::Invalid)?);
        self.commit(c).await?;
        self.write()
            .types
            .insert(entry.record.spec.name.clone(), entry.clone());
        Ok(entry)
    }

    /// Remove a type from the catalogue.
    pub async fn delete_event_type(&self, name: &str) -> Result<(), DirectoryError> {
        let _w = self.writes.lock().await;
        if self.event_type(name).is_none() {
            return Err(DirectoryError::NotFound(format!("event type `{name}`")));
        }
        let mut c = Changes::new();
        c.forget_event_type(name);
        self.commit(c).await?;
        self.write().types.remove(name);
        Ok(())
    }

    /// Whether [`Self::check_publish`] reads payloads: only a catalogue with
    /// types has schemas to check them against.
    pub fn reads_payloads(&self) -> bool {
        !self.read().types.is_empty()
    }

    /// Check events about to be published against the catalogue: with
    /// `events.require_known_types` an unknown type is refused; a payload
    /// failing its type's schema is refused with the JSON pointer (into the
    /// request body) of each violation. `batch`: pointers under `/events/i`.
    pub fn check_publish(
        &self,
        events: &[PublishRequest],
        batch: bool,
    ) -> Result<Checked, DirectoryError> {
        let st = self.read();
        if st.types.is_empty() && !self.settings.require_known_types {
            return Ok(Checked::default());
        }
        let mut problems = Vec::new();
        let mut deprecated: Vec<String> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let (field, ptr) = if batch {
                (format!("events[{i}].type"), format!("/events/{i}/data"))
            } else {
                ("type".to_string(), "/data".to_string())
            };
            match st.types.get(&e.event_type) {
                None => {
                    // Reserved `hookbus.` types are refused by the bus, with their own reason.
                    if self.settings.require_known_types
                        && !crate::event::is_reserved_type(&e.event_type)
                    {
                        problems.push((
                            field,
                            format!(
                                "`{}` is not in the event-type catalogue (events.require_known_types is on)",
                                e.event_type
                            ),
                        ));
                    }
                }
                Some(entry) => {
                    problems.extend(
                        entry
                            .violations(&e.data)
                            .into_iter()
                            .map(|(p, m)| (format!("{ptr}{p}"), m)),
                    );
                    if entry.record.spec.deprecated && !deprecated.contains(&e.event_type) {
                        deprecated.push(e.event_type.clone());
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Checked { deprecated })
        } else {
            Err(DirectoryError::Invalid(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(
        schema: serde_json::Value,
        example: Option<serde_json::Value>,
    ) -> Result<CatalogueEntry, Vec<(String, String)>> {
        CatalogueEntry::compile(EventTypeRecord {
            spec: EventTypeSpec {
                name: "order.created".into(),
                description: String::new(),
                schema: Some(schema),
                deprecated: false,
                example,
            },
            created_at: 0,
            updated_at: 0,
        })
    }

    #[test]
    fn violations_carry_the_pointer_of_the_offending_value() {
        let e = entry(
            json!({"type": "object", "required": ["id"], "properties": {
                "amount": {"type": "number", "minimum": 0},
                "items": {"type": "array", "items": {"type": "string"}}}}),
            None,
        )
        .unwrap();
        let v = e.violations(&json!({"amount": -1, "items": ["a", 2]}));
        let ptrs: Vec<&str> = v.iter().map(|(p, _)| p.as_str()).collect();
        assert!(ptrs.contains(&"/amount"), "{v:?}");
        assert!(ptrs.contains(&"/items/1"), "{v:?}");
        assert!(
            ptrs.contains(&""),
            "the missing `id` is reported at the object: {v:?}"
        );
        assert!(e.violations(&json!({"id": 1, "amount": 3})).is_empty());
    }

    #[test]
    fn a_broken_schema_or_a_failing_example_is_refused_at_save() {
        let e = entry(json!({"type": "nonsense"}), None).unwrap_err();
        assert_eq!(e[0].0, "schema");
        let e = entry(json!({"$ref": "https://example.com/schema.json"}), None).unwrap_err();
        assert_eq!(e[0].0, "schema", "remote references are not fetched");
        let e = entry(
            json!({"properties": {"n": {"type": "integer"}}}),
            Some(json!({"n": "x"})),
        )
        .unwrap_err();
        assert_eq!(e[0].0, "example/n");
    }
}
