//! Evaluating a parsed filter: a plain walk over the event's JSON.

use serde_json::Value;

use super::{Bound, Condition, Op, Root, Subject};

/// Whether the condition holds for `event`.
pub(super) fn holds(c: &Condition, event: &Subject<'_>) -> bool {
    compare(&c.op, lookup(c.root, &c.rest, event))
}

/// A value found at a path.
#[derive(Clone, Copy)]
enum Found<'a> {
    Str(&'a str),
    Json(&'a Value),
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
