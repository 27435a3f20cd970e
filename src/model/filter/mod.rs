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

mod eval;
mod parse;
#[cfg(test)]
mod tests;

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
pub(super) enum Root {
    Type,
    Id,
    Timestamp,
    Data,
    Metadata,
}

/// A bound of an ordering comparison: numbers compare with numbers, strings
/// with strings (byte order); anything else never matches.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Bound {
    Num(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Op {
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
    pub(super) root: Root,
    /// The pointer's remaining reference tokens, unescaped.
    pub(super) rest: Vec<String>,
    /// What to compare.
    pub(super) op: Op,
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

impl Filter {
    /// Parse and check `spec`; every problem as `(location, reason)` with
    /// locations under `filter` (`filter.and[1].op`).
    pub fn parse(spec: &FilterSpec) -> Result<Filter, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut nodes = 0;
        let f = parse::parse_node(&spec.0, "filter", 0, &mut nodes, &mut problems);
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
            Filter::Cond(c) => eval::holds(c, event),
        }
    }
}
