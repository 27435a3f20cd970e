//! "Last-applied" merging of declared endpoints (config file, library) with
//! changes made through the API, so a restart never silently undoes what an
//! operator did.
//!
//! The stored endpoint remembers, per top-level field, a fingerprint of the
//! value its declaration had when it was last applied. At the next start:
//! - a field whose declaration is unchanged keeps the stored value (an API
//!   rotation, patch or pause stays in place);
//! - a field whose declaration changed takes the new declared value; if the
//!   API had changed that field too, the caller logs a WARN naming it.
//!
//! Pure: JSON values in, JSON values out; the bus does the I/O.

use serde_json::{Map, Value};

pub use crate::store::records::Applied;

/// The outcome of merging one declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The spec to store (JSON of an `EndpointSpec`).
    pub spec: Value,
    /// Fingerprints to remember for the next start.
    pub applied: Applied,
    /// Fields where a changed declaration replaced a change made through the API.
    pub overridden: Vec<String>,
    /// Fields where an API change was kept because the declaration did not change.
    pub kept: Vec<String>,
}

/// Generated secrets are not part of a declaration that gives none: compare
/// the stored `signing` as the declaration would have written it.
fn comparable(field: &str, stored: &Value, declared: &Value) -> Value {
    let declared_no_secrets = declared
        .get("secrets")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if field == "signing" && declared_no_secrets {
        let mut s = stored.clone();
        if let Some(o) = s.as_object_mut() {
            o.insert("secrets".into(), Value::Array(Vec::new()));
        }
        return s;
    }
    stored.clone()
}

/// `v` with every object's keys in sorted order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&o[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Merge `declared` over `stored` (what the store holds, with the
/// fingerprints it was last applied with; `None` for a new endpoint).
/// `fp` fingerprints a value (keyed: declared values may hold credentials).
pub fn merge(
    declared: &Value,
    stored: Option<(&Value, Option<&Applied>)>,
    fp: impl Fn(&[u8]) -> String,
) -> Merged {
    // Canonical (keys sorted at every level): serde_json keeps insertion
    // order, and a fingerprint must not change with it (nor with the order
    // fingerprints stored by earlier versions were computed in).
    let fingerprint = |v: &Value| fp(canonical(v).to_string().as_bytes());
    let empty = Map::new();
    let decl = declared.as_object().unwrap_or(&empty);
    let mut applied = Applied::new();
    let Some((stored, last)) = stored else {
        for (k, v) in decl {
            applied.insert(k.clone(), fingerprint(v));
        }
        return Merged {
            spec: declared.clone(),
            applied,
            overridden: Vec::new(),
            kept: Vec::new(),
        };
    };
    let st = stored.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    let (mut overridden, mut kept) = (Vec::new(), Vec::new());
    let mut fields: Vec<(&String, &Value)> = decl.iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in fields {
        let now = fingerprint(v);
        let before = last.and_then(|l| l.get(k));
        let current = st.get(k);
        let api_changed = current.is_some_and(|c| {
            let c = fingerprint(&comparable(k, c, v));
            match before {
                Some(b) => c != *b,
                // Stored before fingerprints existed: any difference came from the API.
                None => c != now,
            }
        });
        if before == Some(&now) {
            out.insert(k.clone(), current.cloned().unwrap_or_else(|| v.clone()));
            if api_changed {
                kept.push(k.clone());
            }
        } else {
            out.insert(k.clone(), v.clone());
            let differs = current.is_some_and(|c| fingerprint(&comparable(k, c, v)) != now);
            if api_changed && differs {
                overridden.push(k.clone());
            }
        }
        applied.insert(k.clone(), now);
    }
    Merged {
        spec: Value::Object(out),
        applied,
        overridden,
        kept,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fp(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn merge(declared: &Value, stored: Option<(&Value, Option<&Applied>)>) -> Merged {
        super::merge(declared, stored, fp)
    }

    fn first(decl: &Value) -> Applied {
        merge(decl, None).applied
    }

    #[test]
    fn fingerprints_do_not_depend_on_key_order() {
        let a = json!({"retry": {"max_attempts": 3, "initial_delay": "1s"}, "name": "x"});
        let b: Value = serde_json::from_str(
            r#"{"name": "x", "retry": {"initial_delay": "1s", "max_attempts": 3}}"#,
        )
        .unwrap();
        assert_eq!(first(&a), first(&b));
        assert_eq!(
            first(&a)["retry"],
            r#"{"initial_delay":"1s","max_attempts":3}"#
        );
    }

    #[test]
    fn an_unchanged_declaration_keeps_api_changes() {
        let decl = json!({"name": "shop", "url": "http://a/", "status": "active",
                          "signing": {"scheme": "standard", "secrets": []}});
        let applied = first(&decl);
        let stored = json!({"name": "shop", "url": "http://b/", "status": "paused",
                            "signing": {"scheme": "standard", "secrets": ["whsec_rotated"]}});
        let m = merge(&decl, Some((&stored, Some(&applied))));
        assert_eq!(m.spec["url"], "http://b/");
        assert_eq!(m.spec["status"], "paused");
        assert_eq!(m.spec["signing"]["secrets"][0], "whsec_rotated");
        assert!(m.overridden.is_empty());
        assert_eq!(
            m.kept,
            ["status", "url"],
            "secrets are compared without generated values"
        );
    }

    #[test]
    fn a_changed_field_is_applied_and_named_when_it_overrides_an_api_change() {
        let old_decl = json!({"name": "shop", "url": "http://a/", "description": "x"});
        let applied = first(&old_decl);
        let stored = json!({"name": "shop", "url": "http://b/", "description": "x"});
        let new_decl = json!({"name": "shop", "url": "http://c/", "description": "y"});
        let m = merge(&new_decl, Some((&stored, Some(&applied))));
        assert_eq!(m.spec["url"], "http://c/");
        assert_eq!(m.spec["description"], "y");
        assert_eq!(m.overridden, ["url"], "description had no API change");
    }

    #[test]
    fn generated_secrets_are_not_mistaken_for_api_changes() {
        let decl = json!({"signing": {"scheme": "standard", "secrets": []}});
        let stored = json!({"signing": {"scheme": "standard", "secrets": ["whsec_generated"]}});
        // A record from before fingerprints existed.
        let m = merge(&decl, Some((&stored, None)));
        assert!(m.overridden.is_empty(), "{m:?}");
    }

    #[test]
    fn records_without_fingerprints_apply_the_declaration_and_report_api_changes() {
        let decl = json!({"url": "http://a/", "status": "active"});
        let stored = json!({"url": "http://a/", "status": "paused"});
        let m = merge(&decl, Some((&stored, None)));
        assert_eq!(m.spec["status"], "active");
        assert_eq!(m.overridden, ["status"]);
    }
}
