//! Small tools for editing the served OpenAPI document as JSON, and the
//! event-type grammar as patterns (shared by the document's parts).

use serde_json::{Value, json};

/// Any well-formed event type.
pub const EVENT_TYPE_ANY_PATTERN: &str = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}$";
/// An event type; the `hookbus.` prefix is reserved for the engine.
pub const TYPE_PATTERN: &str = r"^(?!hookbus(\.|$))[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}$";

/// A response body that is a problem document.
pub(super) fn problem() -> Value {
    json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}})
}

/// Merge `patch`'s keys into the object at `pointer`, if there is one.
pub(super) fn set(doc: &mut Value, pointer: &str, patch: Value) {
    if let (Some(Value::Object(target)), Value::Object(p)) = (doc.pointer_mut(pointer), patch) {
        for (k, v) in p {
            // `null` in a patch removes the key (e.g. a `$ref` replaced by an inline schema).
            if v.is_null() {
                target.remove(&k);
            } else {
                target.insert(k, v);
            }
        }
    }
}
