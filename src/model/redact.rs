//! Redaction: replace chosen fields with `"[REDACTED]"` before a transform or delivery.
//!
//! A rule with dots is a path from the event root (`data.customer.email`;
//! `*` matches any key or array element at that step). A rule without dots is
//! a key name removed wherever it appears (`password`).

use serde_json::Value;

/// What replaces a redacted value.
pub const MASK: &str = "[REDACTED]";

/// Apply every rule to `event` (the `{id, type, timestamp, data, metadata}` object).
pub fn apply(event: &mut Value, rules: &[String]) {
    for rule in rules {
        if rule.contains('.') {
            let path: Vec<&str> = rule.split('.').collect();
            by_path(event, &path);
        } else {
            by_key(event, rule);
        }
    }
}

fn by_path(v: &mut Value, path: &[&str]) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    let children: Vec<&mut Value> = match v {
        Value::Object(m) if *head == "*" => m.values_mut().collect(),
        Value::Object(m) => m.get_mut(*head).into_iter().collect(),
        Value::Array(a) if *head == "*" => a.iter_mut().collect(),
        Value::Array(a) => head
            .parse::<usize>()
            .ok()
            .and_then(|i| a.get_mut(i))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    for child in children {
        if rest.is_empty() {
            *child = Value::String(MASK.into());
        } else {
            by_path(child, rest);
        }
    }
}

fn by_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == key {
                    *child = Value::String(MASK.into());
                } else {
                    by_key(child, key);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| by_key(c, key)),
        _ => {}
    }
}

pub use super::spec::redact_problems as problems;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_keys_and_wildcards_are_masked() {
        let mut ev = json!({
            "id": "evt_1", "type": "user.created",
            "data": {"email": "a@b.c", "card": {"number": "4111", "cvc": "123"},
                     "items": [{"secret": 1, "name": "x"}, {"secret": 2}]},
            "metadata": {"password": "pw"}
        });
        let rules: Vec<String> = [
            "data.email",
            "data.items.*.secret",
            "password",
            "data.card.cvc",
            "data.nope.x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        apply(&mut ev, &rules);
        assert_eq!(ev["data"]["email"], MASK);
        assert_eq!(ev["data"]["items"][0]["secret"], MASK);
        assert_eq!(ev["data"]["items"][1]["secret"], MASK);
        assert_eq!(ev["data"]["items"][0]["name"], "x");
        assert_eq!(ev["metadata"]["password"], MASK);
        assert_eq!(ev["data"]["card"], json!({"number": "4111", "cvc": MASK}));
        assert!(
            ev["data"].get("nope").is_none(),
            "missing paths are left alone"
        );
    }

    #[test]
    fn empty_segments_are_rejected() {
        assert_eq!(problems(&["ok".into(), "a..b".into(), "".into()]).len(), 2);
    }
}
