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
        Value::Number(n) => number(n),
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic).collect()),
        Value::Object(o) => Dynamic::from_map(
            o.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// A JSON number as a script value: an integer when it fits `i64`, else a float.
fn number(n: &serde_json::Number) -> Dynamic {
    match n.as_i64() {
        Some(i) => Dynamic::from_int(i),
        None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// JSON text straight into the script value [`to_dynamic`] gives for its
/// parsed tree, without building the tree: no ordered map per object, no
/// `String` per key and per number. `None` when `text` is not JSON.
pub fn text_to_dynamic(text: &[u8]) -> Option<Dynamic> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = ScriptValue.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// Builds a `Dynamic` as the parser reads.
struct ScriptValue;

/// serde_json's marker key for a number kept as text (`arbitrary_precision`,
/// which hookbus builds with): such a number reaches a visitor as a one-entry
/// map under this key. `text_to_dynamic`'s tests fail if it ever changes.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> serde::de::DeserializeSeed<'de> for ScriptValue {
    type Value = Dynamic;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ScriptValue {
    type Value = Dynamic;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::UNIT)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Dynamic, E> {
        Ok(Dynamic::from_bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Dynamic, E> {
        Ok(number(&u.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Dynamic, E> {
        Ok(Dynamic::from(rhai::ImmutableString::from(s)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        let mut items = rhai::Array::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(ScriptValue)? {
            items.push(item);
        }
        Ok(Dynamic::from_array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Dynamic, A::Error> {
        let mut out = rhai::Map::new();
        let mut first = true;
        while let Some(key) = map.next_key_seed(Key)? {
            if first && key.as_str() == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                let n: serde_json::Number =
                    serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
                return Ok(number(&n));
            }
            first = false;
            // A repeated key keeps its last value, as the tree does.
            out.insert(key, map.next_value_seed(ScriptValue)?);
        }
        Ok(Dynamic::from_map(out))
    }
}

/// An object key, read straight into a script map key.
struct Key;

/// The key type of a script map (rhai does not export its name).
type MapKey = <rhai::Map as KeyOf>::Key;

/// Names a map's key type.
trait KeyOf {
    type Key;
}

impl<K, V> KeyOf for std::collections::BTreeMap<K, V> {
    type Key = K;
}

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = MapKey;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<MapKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = MapKey;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<MapKey, E> {
        Ok(s.into())
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

    /// Both paths to a script value, as comparable text (Debug tells an
    /// integer from a float: `1` vs `1.0`).
    fn both(text: &str) -> (String, String) {
        let tree: Value = serde_json::from_str(text).unwrap();
        let direct = text_to_dynamic(text.as_bytes()).unwrap();
        (format!("{:?}", to_dynamic(&tree)), format!("{direct:?}"))
    }

    #[test]
    fn text_to_dynamic_gives_what_the_tree_path_gives() {
        // Arbitrary JSON too: tests/it/props.rs.
        for text in [
            r#"{"i": 7, "neg": -3, "zero": -0, "f": 2.5, "long": 1.50, "exp": 1e3, "negexp": -2E-2,
                "max": 9223372036854775807, "min": -9223372036854775808,
                "over": 9223372036854775808, "umax": 18446744073709551615,
                "huge": 123456789012345678901234567890, "inf": 1e400}"#,
            r#"{"s": "é \"q\" \\ \n \u0000 \ud83d\ude00", "k\"ey": 1, "": null, "é": true}"#,
            r#"{"a": [1, [2, [3, []]], {}, {"x": {"y": [null, false]}}], "o": {}}"#,
            r#"{"dup": 1, "dup": "last"}"#,
            // serde_json's own marker: read as the number, by both paths
            // (fails here if the marker ever changes).
            r#"{"n": {"$serde_json::private::Number": "12"}}"#,
            r#"[]"#,
            r#""just a string""#,
            r#"42"#,
            r#"-1.25e-7"#,
            r#"null"#,
            " { \"spaced\" : [ 1 , 2 ] } ",
        ] {
            let (tree, direct) = both(text);
            assert_eq!(direct, tree, "{text}");
        }
        // The marker with a non-number: the tree path refuses it, and so does this.
        let odd = r#"{"$serde_json::private::Number": "x", "n": 1}"#;
        assert!(serde_json::from_str::<Value>(odd).is_err());
        assert!(text_to_dynamic(odd.as_bytes()).is_none());
        assert!(text_to_dynamic(b"{").is_none());
        assert!(text_to_dynamic(b"{} trailing").is_none());
    }

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
