//! Reading a filter as written: every problem with its location.

use serde_json::Value;

use super::{Bound, Condition, Filter, MAX_DEPTH, MAX_IN, OPS, Op, Root};

pub(super) fn parse_node(
    v: &Value,
    at: &str,
    depth: usize,
    nodes: &mut usize,
    problems: &mut Vec<(String, String)>,
) -> Option<Filter> {
    *nodes += 1;
    if depth > MAX_DEPTH {
        problems.push((at.into(), format!("nests deeper than {MAX_DEPTH} levels")));
        return None;
    }
    let Some(obj) = v.as_object() else {
        problems.push((
            at.into(),
            "must be an object: {\"path\", \"op\", \"value\"}, {\"and\": […]}, {\"or\": […]} or {\"not\": …}".into(),
        ));
        return None;
    };
    let group = ["and", "or", "not"]
        .into_iter()
        .find(|k| obj.contains_key(*k));
    if let Some(kind) = group {
        if obj.len() != 1 {
            problems.push((at.into(), format!("`{kind}` must be the object's only key")));
            return None;
        }
        let inner = &obj[kind];
        let here = format!("{at}.{kind}");
        if kind == "not" {
            return parse_node(inner, &here, depth + 1, nodes, problems)
                .map(|f| Filter::Not(Box::new(f)));
        }
        let Some(items) = inner.as_array().filter(|a| !a.is_empty()) else {
            problems.push((here, "must be a non-empty array of filters".into()));
            return None;
        };
        let parts: Vec<Option<Filter>> = items
            .iter()
            .enumerate()
            .map(|(i, p)| parse_node(p, &format!("{here}[{i}]"), depth + 1, nodes, problems))
            .collect();
        let parts: Option<Vec<Filter>> = parts.into_iter().collect();
        return parts.map(|p| {
            if kind == "and" {
                Filter::And(p)
            } else {
                Filter::Or(p)
            }
        });
    }
    parse_cond(obj, at, problems)
}

fn parse_cond(
    obj: &serde_json::Map<String, Value>,
    at: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<Filter> {
    let before = problems.len();
    for k in obj.keys() {
        if !matches!(k.as_str(), "path" | "op" | "value") {
            problems.push((
                format!("{at}.{k}"),
                "unknown key; a condition has `path`, `op` and `value`, a group `and`, `or` or `not`".into(),
            ));
        }
    }
    let path = match obj.get("path") {
        Some(Value::String(p)) => match parse_path(p) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push((format!("{at}.path"), e));
                None
            }
        },
        Some(_) => {
            problems.push((format!("{at}.path"), "must be a JSON pointer string".into()));
            None
        }
        None => {
            problems.push((format!("{at}.path"), "is required".into()));
            None
        }
    };
    let value = obj.get("value");
    let op = match obj.get("op").and_then(Value::as_str) {
        None => {
            problems.push((
                format!("{at}.op"),
                format!("is required: one of {}", OPS.join(", ")),
            ));
            None
        }
        Some(name) => match parse_op(name, value) {
            Ok(op) => Some(op),
            Err((field, e)) => {
                problems.push((format!("{at}.{field}"), e));
                None
            }
        },
    };
    if problems.len() > before {
        return None;
    }
    let ((root, rest), op) = (path?, op?);
    Some(Filter::Cond(Condition { root, rest, op }))
}

fn parse_path(p: &str) -> Result<(Root, Vec<String>), String> {
    let Some(body) = p.strip_prefix('/') else {
        return Err(format!(
            "`{p}` is not a JSON pointer from the event (`/data/…`, `/metadata/…`, `/type`, `/id`, `/timestamp`)"
        ));
    };
    let mut tokens = Vec::new();
    for raw in body.split('/') {
        let mut t = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '~' => match chars.next() {
                    Some('0') => t.push('~'),
                    Some('1') => t.push('/'),
                    _ => return Err(format!("`{p}`: `~` must be followed by 0 or 1 (RFC 6901)")),
                },
                c => t.push(c),
            }
        }
        tokens.push(t);
    }
    let first = tokens.remove(0);
    let root = match first.as_str() {
        "data" => Root::Data,
        "metadata" => Root::Metadata,
        "type" => Root::Type,
        "id" => Root::Id,
        "timestamp" => Root::Timestamp,
        other => {
            return Err(format!(
                "`{p}` starts at `{other}`; paths start at /data, /metadata, /type, /id or /timestamp"
            ));
        }
    };
    if !tokens.is_empty() && !matches!(root, Root::Data | Root::Metadata) {
        return Err(format!("`/{first}` is a string; a path cannot go below it"));
    }
    Ok((root, tokens))
}

fn parse_op(name: &str, value: Option<&Value>) -> Result<Op, (&'static str, String)> {
    let need = |what: &str| ("value", format!("`{name}` needs {what}"));
    let bound = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Bound::Num)
            .ok_or_else(|| need("a finite number or a string")),
        Some(Value::String(s)) => Ok(Bound::Str(s.clone())),
        _ => Err(need("a number or a string")),
    };
    Ok(match name {
        "eq" => Op::Eq(value.cloned().ok_or_else(|| need("a value"))?),
        "ne" => Op::Ne(value.cloned().ok_or_else(|| need("a value"))?),
        "gt" => Op::Gt(bound(value)?),
        "gte" => Op::Gte(bound(value)?),
        "lt" => Op::Lt(bound(value)?),
        "lte" => Op::Lte(bound(value)?),
        "in" => match value {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_IN => Op::In(a.clone()),
            _ => return Err(need(&format!("an array of 1..={MAX_IN} values"))),
        },
        "exists" => match value {
            None => Op::Exists(true),
            Some(Value::Bool(b)) => Op::Exists(*b),
            Some(_) => return Err(need("no value, or true / false")),
        },
        "prefix" => match value {
            Some(Value::String(s)) => Op::Prefix(s.clone()),
            _ => return Err(need("a string")),
        },
        other => {
            return Err((
                "op",
                format!("unknown operator `{other}`; one of {}", OPS.join(", ")),
            ));
        }
    })
}
