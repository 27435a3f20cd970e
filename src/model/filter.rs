//! Declarative payload filters on subscriptions (`filter` in the endpoint
//! schema): JSON-pointer paths into the event compared with a value, joined
//! with `and`, `or` and `not`. Parsed and checked once when the endpoint is
//! saved ([`Filter::parse`] reports every problem with its location), then
//! evaluated on the bus for each matched event before any delivery exists —
//! a plain walk over the event's JSON, no script engine.
//!
//! ```json
//! {"and": [
//!   {"path": "/data/amount", "op": "gte", "value": 100},
//!   {"not": {"path": "/data/country", "op": "in", "value": ["US", "CA"]}},
//!   {"path": "/metadata/tenant", "op": "exists"}
//! ]}
//! ```
//!
//! Paths start at the event as delivered: `/type`, `/id`, `/timestamp`,
//! `/data/…`, `/metadata/…`; array elements by index (`/data/items/0/sku`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Conditions a filter may hold in total, and how deeply they may nest.
pub const MAX_NODES: usize = 256;
/// Deepest nesting of `and`/`or`/`not`.
pub const MAX_DEPTH: usize = 32;
/// Most values in one `in` list.
pub const MAX_IN: usize = 1024;
/// The comparison operators, as written.
pub const OPS: &[&str] = &[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "prefix",
];

/// A filter as written by the user: kept verbatim (it is shown back as
/// given) and parsed into a [`Filter`] when the endpoint is saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object, example = json!({"and": [{"path": "/data/amount", "op": "gte", "value": 100}, {"not": {"path": "/data/country", "op": "in", "value": ["US", "CA"]}}]}))]
pub struct FilterSpec(pub Value);

/// The part of the event a path starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Type,
    Id,
    Timestamp,
    Data,
    Metadata,
}

/// A bound of an ordering comparison: numbers compare with numbers, strings
/// with strings (byte order); anything else never matches.
#[derive(Clone, Debug, PartialEq)]
enum Bound {
    Num(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Eq(Value),
    Ne(Value),
    Gt(Bound),
    Gte(Bound),
    Lt(Bound),
    Lte(Bound),
    In(Vec<Value>),
    Exists(bool),
    Prefix(String),
}

/// A parsed, checked filter, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Every part holds.
    And(Vec<Filter>),
    /// At least one part holds.
    Or(Vec<Filter>),
    /// The part does not hold.
    Not(Box<Filter>),
    /// One comparison.
    Cond(Condition),
}

/// One comparison: a path into the event, an operator and its operand.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Where the path starts.
    root: Root,
    /// The pointer's remaining reference tokens, unescaped.
    rest: Vec<String>,
    /// What to compare.
    op: Op,
}

/// The event a filter looks at.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Event id.
    pub id: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// RFC 3339 acceptance time.
    pub timestamp: &'a str,
    /// Payload.
    pub data: &'a Value,
    /// Metadata.
    pub metadata: &'a Value,
}

impl<'a> Subject<'a> {
    /// The event as a filter sees it.
    pub fn of(e: &'a crate::event::Event) -> Self {
        Self {
            id: &e.id,
            event_type: &e.event_type,
            timestamp: &e.timestamp,
            data: &e.data,
            metadata: &e.metadata,
        }
    }
}

/// A value found at a path.
#[derive(Clone, Copy)]
enum Found<'a> {
    Str(&'a str),
    Json(&'a Value),
}

impl Filter {
    /// Parse and check `spec`; every problem as `(location, reason)` with
    /// locations under `filter` (`filter.and[1].op`).
    pub fn parse(spec: &FilterSpec) -> Result<Filter, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut nodes = 0;
        let f = parse_node(&spec.0, "filter", 0, &mut nodes, &mut problems);
        if nodes > MAX_NODES {
            problems.push((
                "filter".into(),
                format!("has {nodes} conditions and groups; at most {MAX_NODES}"),
            ));
        }
        match f {
            Some(f) if problems.is_empty() => Ok(f),
            _ => Err(problems),
        }
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Subject<'_>) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.matches(event)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(event)),
            Filter::Not(p) => !p.matches(event),
            Filter::Cond(c) => compare(&c.op, lookup(c.root, &c.rest, event)),
        }
    }
}

fn parse_node(
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

fn lookup<'a>(root: Root, rest: &[String], e: &Subject<'a>) -> Option<Found<'a>> {
    let mut v = match root {
        Root::Type => return Some(Found::Str(e.event_type)),
        Root::Id => return Some(Found::Str(e.id)),
        Root::Timestamp => return Some(Found::Str(e.timestamp)),
        Root::Data => e.data,
        Root::Metadata => e.metadata,
    };
    for t in rest {
        v = match v {
            Value::Object(m) => m.get(t.as_str())?,
            Value::Array(a) => a.get(array_index(t)?)?,
            _ => return None,
        };
    }
    Some(Found::Json(v))
}

/// An RFC 6901 array index: digits, no leading zero.
fn array_index(t: &str) -> Option<usize> {
    let ok =
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'));
    ok.then(|| t.parse().ok()).flatten()
}

fn compare(op: &Op, found: Option<Found<'_>>) -> bool {
    match op {
        Op::Exists(want) => found.is_some() == *want,
        Op::Ne(v) => !found.is_some_and(|f| equal(f, v)),
        _ => {
            let Some(f) = found else { return false };
            match op {
                Op::Eq(v) => equal(f, v),
                Op::In(vs) => vs.iter().any(|v| equal(f, v)),
                Op::Prefix(p) => as_str(f).is_some_and(|s| s.starts_with(p.as_str())),
                Op::Gt(b) => order(f, b).is_some_and(|o| o.is_gt()),
                Op::Gte(b) => order(f, b).is_some_and(|o| o.is_ge()),
                Op::Lt(b) => order(f, b).is_some_and(|o| o.is_lt()),
                Op::Lte(b) => order(f, b).is_some_and(|o| o.is_le()),
                Op::Exists(_) | Op::Ne(_) => unreachable!("handled above"),
            }
        }
    }
}

fn as_str<'a>(f: Found<'a>) -> Option<&'a str> {
    match f {
        Found::Str(s) => Some(s),
        Found::Json(Value::String(s)) => Some(s),
        Found::Json(_) => None,
    }
}

/// JSON equality, numbers by value (`1` equals `1.0`), at any depth.
fn equal(f: Found<'_>, v: &Value) -> bool {
    match f {
        Found::Str(s) => v.as_str() == Some(s),
        Found::Json(j) => json_eq(j, v),
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

fn order(f: Found<'_>, b: &Bound) -> Option<std::cmp::Ordering> {
    match b {
        Bound::Num(n) => match f {
            Found::Json(Value::Number(x)) => x.as_f64()?.partial_cmp(n),
            _ => None,
        },
        Bound::Str(s) => Some(as_str(f)?.cmp(s.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Filter, Vec<(String, String)>> {
        Filter::parse(&FilterSpec(v))
    }

    fn check(filter: Value, data: Value) -> bool {
        let meta = json!({"tenant": "t1"});
        let f = parse(filter).expect("valid filter");
        f.matches(&Subject {
            id: "evt_1",
            event_type: "order.created",
            timestamp: "2026-12-02T00:00:00.000Z",
            data: &data,
            metadata: &meta,
        })
    }

    #[test]
    fn each_operator_compares_as_documented() {
        let d = json!({"amount": 150, "country": "DE", "tags": ["a", "b"], "sku": "AB-12", "nil": null});
        let c = |op: &str, path: &str, v: Value| {
            check(json!({"path": path, "op": op, "value": v}), d.clone())
        };
        assert!(c("eq", "/data/amount", json!(150.0)), "numbers by value");
        assert!(!c("eq", "/data/amount", json!("150")), "no type coercion");
        assert!(c("eq", "/data/tags", json!(["a", "b"])));
        assert!(c("eq", "/data/nil", json!(null)));
        assert!(c("ne", "/data/country", json!("US")));
        assert!(
            c("ne", "/data/missing", json!(1)),
            "a missing field is not equal"
        );
        assert!(c("gt", "/data/amount", json!(100)) && !c("gt", "/data/amount", json!(150)));
        assert!(c("gte", "/data/amount", json!(150)));
        assert!(c("lt", "/data/amount", json!(151)) && !c("lt", "/data/amount", json!(150)));
        assert!(c("lte", "/data/amount", json!(150)));
        assert!(
            c("gt", "/data/country", json!("CH")),
            "strings in byte order"
        );
        assert!(
            !c("gt", "/data/country", json!(1)),
            "a string is not ordered against a number"
        );
        assert!(!c("lt", "/data/missing", json!(1)));
        assert!(c("in", "/data/country", json!(["FR", "DE"])));
        assert!(!c("in", "/data/country", json!(["US"])));
        assert!(c("prefix", "/data/sku", json!("AB-")) && !c("prefix", "/data/amount", json!("1")));
        assert!(c("eq", "/data/tags/1", json!("b")), "array index");
        assert!(!c("eq", "/data/tags/01", json!("b")), "no leading zeros");
        assert!(c("eq", "/type", json!("order.created")));
        assert!(c("prefix", "/id", json!("evt_")));
        assert!(c("eq", "/metadata/tenant", json!("t1")));
        assert!(check(
            json!({"path": "/data/amount", "op": "exists"}),
            d.clone()
        ));
        assert!(
            check(json!({"path": "/data/nil", "op": "exists"}), d.clone()),
            "null exists"
        );
        assert!(check(
            json!({"path": "/data/x", "op": "exists", "value": false}),
            d.clone()
        ));
        assert!(check(
            json!({"path": "/data/a~1b", "op": "eq", "value": 1}),
            json!({"a/b": 1})
        ));
        assert!(check(
            json!({"path": "/data/a~0b", "op": "eq", "value": 1}),
            json!({"a~b": 1})
        ));
    }

    #[test]
    fn groups_combine_conditions() {
        let d = json!({"amount": 150, "country": "DE"});
        let big = json!({"path": "/data/amount", "op": "gt", "value": 100});
        let us = json!({"path": "/data/country", "op": "eq", "value": "US"});
        assert!(!check(json!({"and": [big, us]}), d.clone()));
        assert!(check(json!({"or": [big, us]}), d.clone()));
        assert!(check(json!({"and": [big, {"not": us}]}), d.clone()));
        assert!(!check(json!({"not": {"or": [big, us]}}), d.clone()));
        assert!(check(
            json!({"or": [{"and": [us, big]}, {"not": {"not": big}}]}),
            d
        ));
    }

    #[test]
    fn every_problem_is_reported_with_its_location() {
        let e = parse(json!({"and": [
            {"path": "data/x", "op": "eq", "value": 1},
            {"path": "/data/x", "op": "gtt", "value": 1},
            {"path": "/data/x", "op": "in", "value": 3},
            {"not": {"path": "/type/x", "op": "exists"}},
            {"path": "/data/x", "op": "eq", "value": 1, "extra": true},
            {"or": []},
            {"path": "/data/~2", "op": "eq", "value": 1},
            {"path": "/data/x", "op": "gt", "value": [1]},
            {"path": "/body/x", "op": "eq", "value": 1},
            {"path": "/data/x", "op": "prefix", "value": 1},
            {"path": "/data/x"},
            {"and": [1], "or": []},
            7
        ]}))
        .unwrap_err();
        let locs: Vec<&str> = e.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            locs,
            [
                "filter.and[0].path",
                "filter.and[1].op",
                "filter.and[2].value",
                "filter.and[3].not.path",
                "filter.and[4].extra",
                "filter.and[5].or",
                "filter.and[6].path",
                "filter.and[7].value",
                "filter.and[8].path",
                "filter.and[9].value",
                "filter.and[10].op",
                "filter.and[11]",
                "filter.and[12]",
            ],
            "{e:#?}"
        );
        assert!(
            e[1].1.contains("gtt") && e[1].1.contains("prefix"),
            "{}",
            e[1].1
        );
    }

    #[test]
    fn size_and_depth_are_bounded() {
        let mut deep = json!({"path": "/data/x", "op": "exists"});
        for _ in 0..40 {
            deep = json!({"not": deep});
        }
        assert!(parse(deep).is_err());
        let wide: Vec<Value> = (0..300)
            .map(|_| json!({"path": "/data/x", "op": "exists"}))
            .collect();
        let e = parse(json!({"or": wide})).unwrap_err();
        assert_eq!(e[0].0, "filter");
    }
}
