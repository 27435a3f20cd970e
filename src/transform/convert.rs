//! JSON ⇄ `Dynamic`, in exactly one place.

use rhai::Dynamic;
use serde_json::Value;

/// JSON into a script value. Integers stay integers (beyond `i64`, floats);
/// maps become object maps. Walks the tree directly: about 3× faster than
/// going through serde's serializer, and it runs once per scripted event.
pub fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic).collect()),
        Value::Object(o) => Dynamic::from_map(
            o.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// A script value back into JSON (shared values are flattened first).
pub fn to_json(d: &Dynamic) -> Result<Value, String> {
    rhai::serde::from_dynamic::<Value>(&d.clone().flatten()).map_err(|e| e.to_string())
}

/// A script value straight to JSON bytes (no intermediate `Value`; shared
/// values are read in place). Same output as `to_json` then `to_vec`, except
/// that a value with no JSON form (a timestamp, a function pointer, a custom
/// type) is an error instead of its type name as a string.
pub fn to_json_bytes(d: &Dynamic) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&Json(d)).map_err(|e| e.to_string())
}

/// Serialises a script value as JSON, refusing what JSON cannot hold.
struct Json<'a>(&'a Dynamic);

impl serde::Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap, SerializeSeq};
        let d = self.0;
        // Most common first: maps and strings make up most of a body.
        if let Some(m) = d.read_lock::<rhai::Map>() {
            let mut map = ser.serialize_map(Some(m.len()))?;
            for (k, v) in m.iter() {
                map.serialize_entry(k.as_str(), &Json(v))?;
            }
            return map.end();
        }
        if let Some(s) = d.read_lock::<rhai::ImmutableString>() {
            return ser.serialize_str(&s);
        }
        if let Ok(i) = d.as_int() {
            return ser.serialize_i64(i);
        }
        if let Some(a) = d.read_lock::<rhai::Array>() {
            let mut seq = ser.serialize_seq(Some(a.len()))?;
            for v in a.iter() {
                seq.serialize_element(&Json(v))?;
            }
            return seq.end();
        }
        if let Ok(f) = d.as_float() {
            return ser.serialize_f64(f);
        }
        if let Ok(b) = d.as_bool() {
            return ser.serialize_bool(b);
        }
        if d.is_unit() {
            return ser.serialize_unit();
        }
        if let Ok(c) = d.as_char() {
            return ser.serialize_char(c);
        }
        if let Some(b) = d.read_lock::<rhai::Blob>() {
            return ser.serialize_bytes(&b);
        }
        Err(S::Error::custom(format!(
            "the output holds a `{}`, which has no JSON form (for a time, send `format_time(now())`)",
            d.type_name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_json() {
        let v = serde_json::json!({"a": 1, "b": [true, null, "x", 2.5], "c": {"d": -7}});
        assert_eq!(to_json(&to_dynamic(&v)).unwrap(), v);
    }

    #[test]
    fn integers_stay_integers_and_the_rest_keeps_its_shape() {
        let v = serde_json::json!({"i": 7, "neg": -3, "f": 2.5, "big": u64::MAX, "s": "é", "n": null,
            "a": [true, {"x": []}], "o": {}});
        let d = to_dynamic(&v);
        let m = d.read_lock::<rhai::Map>().unwrap();
        assert_eq!(m["i"].as_int(), Ok(7));
        assert_eq!(m["neg"].as_int(), Ok(-3));
        assert_eq!(m["f"].as_float(), Ok(2.5));
        // Beyond i64: a float (scripts lose the precision; docs say so).
        assert_eq!(m["big"].as_float(), Ok(u64::MAX as f64));
        assert_eq!(m["s"].clone().into_string().unwrap(), "é");
        assert!(m["n"].is_unit());
        assert!(m["a"].is_array() && m["o"].is_map());
    }

    #[test]
    fn numbers_written_in_long_form_are_read_by_value() {
        // With arbitrary_precision, serde_json keeps the text; conversion reads its value.
        let v: Value =
            serde_json::from_str(r#"{"x": 1.50, "y": 1e3, "z": 123456789012345678901234567890}"#)
                .unwrap();
        let d = to_dynamic(&v);
        let m = d.read_lock::<rhai::Map>().unwrap();
        assert_eq!(m["x"].as_float(), Ok(1.5));
        assert_eq!(m["y"].as_float(), Ok(1000.0));
        assert_eq!(m["z"].as_float(), Ok(1.2345678901234568e29));
    }

    #[test]
    fn values_without_a_json_form_are_refused_not_sent_as_their_type_name() {
        let engine = rhai::Engine::new();
        for src in ["#{at: timestamp()}", "[Fn(\"x\")]"] {
            let d: Dynamic = engine.eval(src).unwrap();
            let err = to_json_bytes(&d).unwrap_err();
            assert!(err.contains("has no JSON form"), "{src}: {err}");
        }
        let d: Dynamic = engine.eval("#{c: 'x', b: true, n: (), f: 1.5}").unwrap();
        assert_eq!(
            String::from_utf8(to_json_bytes(&d).unwrap()).unwrap(),
            r#"{"b":true,"c":"x","f":1.5,"n":null}"#
        );
    }

    #[test]
    fn bytes_match_the_value_path_including_shared_values() {
        let v = serde_json::json!({"z": 1, "a": [1.5, "x", null, {"k": false}], "m": {"n": -2}});
        let d = to_dynamic(&v);
        let via_value = serde_json::to_vec(&to_json(&d).unwrap()).unwrap();
        assert_eq!(to_json_bytes(&d).unwrap(), via_value);
        assert_eq!(to_json_bytes(&d.into_shared()).unwrap(), via_value);
    }
}
