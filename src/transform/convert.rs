//! JSON ⇄ `Dynamic`, in exactly one place.

use rhai::Dynamic;
use serde_json::Value;

/// JSON into a script value. Integers stay integers; maps become object maps.
pub fn to_dynamic(v: &Value) -> Dynamic {
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// A script value back into JSON (shared values are flattened first).
pub fn to_json(d: &Dynamic) -> Result<Value, String> {
    rhai::serde::from_dynamic::<Value>(&d.clone().flatten()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_json() {
        let v = serde_json::json!({"a": 1, "b": [true, null, "x", 2.5], "c": {"d": -7}});
        assert_eq!(to_json(&to_dynamic(&v)).unwrap(), v);
    }
}
