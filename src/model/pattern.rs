//! Subscription patterns: the wildcard grammar (DESIGN.md "Subscriptions")
//! and a reference matcher. The trie that matches many patterns at once is
//! `bus::matcher`.

use crate::event::{MAX_SEGMENTS, MAX_TYPE_LEN, is_segment_byte};

/// First segment of operational event types.
pub const OPERATIONAL_PREFIX: &str = "hookbus";

/// One parsed pattern segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `*`: any one segment.
    Star,
}

/// A parsed subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// `!` prefix: endpoints matching this are removed from the result.
    pub negated: bool,
    /// Segments before any trailing `**`.
    pub segments: Vec<Segment>,
    /// Trailing `**`: one or more further segments.
    pub rest: bool,
}

impl Pattern {
    /// Parse and validate a pattern.
    ///
    /// # Examples
    /// ```
    /// let p = hookbus::model::pattern::Pattern::parse("order.*.failed").unwrap();
    /// assert!(p.matches("order.eu.failed"));
    /// assert!(hookbus::model::pattern::Pattern::parse("a.**.b").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (negated, body) = match raw.strip_prefix('!') {
            Some(b) => (true, b),
            None => (false, raw),
        };
        if body.is_empty() {
            return Err("pattern must not be empty".into());
        }
        if body.len() > MAX_TYPE_LEN {
            return Err(format!("pattern must be at most {MAX_TYPE_LEN} characters"));
        }
        let parts: Vec<&str> = body.split('.').collect();
        if parts.len() > MAX_SEGMENTS {
            return Err(format!("pattern must have at most {MAX_SEGMENTS} segments"));
        }
        let mut segments = Vec::with_capacity(parts.len());
        let mut rest = false;
        for (i, part) in parts.iter().enumerate() {
            match *part {
                "" => return Err("pattern segments must not be empty".into()),
                "**" if i + 1 == parts.len() => rest = true,
                "**" => return Err("`**` is only allowed as the last segment".into()),
                "*" => segments.push(Segment::Star),
                lit if lit.bytes().all(is_segment_byte) => {
                    segments.push(Segment::Literal(lit.to_string()))
                }
                lit => {
                    return Err(format!(
                        "segment `{lit}` may only contain letters, digits, `_`, `-`, or be `*`/`**`"
                    ));
                }
            }
        }
        // `*` alone means "every event type", like `**`.
        if segments == [Segment::Star] && !rest {
            segments.clear();
            rest = true;
        }
        Ok(Self {
            negated,
            segments,
            rest,
        })
    }

    /// Whether the first segment is the literal `hookbus` (required to see
    /// operational events).
    fn is_operational(&self) -> bool {
        matches!(self.segments.first(), Some(Segment::Literal(s)) if s == OPERATIONAL_PREFIX)
    }

    /// Reference matcher, ignoring negation: does this pattern select `event_type`?
    pub fn matches(&self, event_type: &str) -> bool {
        let segs: Vec<&str> = event_type.split('.').collect();
        if segs.first() == Some(&OPERATIONAL_PREFIX) && !self.is_operational() {
            return false;
        }
        let n = self.segments.len();
        let len_ok = if self.rest {
            segs.len() > n
        } else {
            segs.len() == n
        };
        len_ok
            && self.segments.iter().zip(&segs).all(|(p, s)| match p {
                Segment::Star => true,
                Segment::Literal(l) => l == s,
            })
    }
}

/// Does an endpoint with these patterns receive `event_type`? (Reference
/// semantics for a whole list, used by tests and dry-runs.)
pub fn list_matches(patterns: &[Pattern], event_type: &str) -> bool {
    let includes: Vec<&Pattern> = patterns.iter().filter(|p| !p.negated).collect();
    let included = if includes.is_empty() {
        Pattern {
            negated: false,
            segments: vec![],
            rest: true,
        }
        .matches(event_type)
    } else {
        includes.iter().any(|p| p.matches(event_type))
    };
    included && !patterns.iter().any(|p| p.negated && p.matches(event_type))
}
