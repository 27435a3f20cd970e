//! Subscription matching: wildcard patterns and the token trie that finds
//! every endpoint subscribed to an event type without scanning endpoints.
//!
//! Grammar (DESIGN.md "Subscriptions"): segments split on `.`; `*` matches one
//! segment; a trailing `**` matches one or more; `*` or `**` alone (or an empty
//! pattern list) matches every type; `!pattern` excludes. Operational types
//! (`hookbus.…`) only match patterns whose first segment is literally `hookbus`.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::event::MAX_SEGMENTS;

pub use crate::model::pattern::{OPERATIONAL_PREFIX, Pattern, Segment, list_matches};

#[derive(Default, Debug)]
struct Node {
    literal: FxHashMap<Box<str>, Node>,
    star: Option<Box<Node>>,
    /// Subscribers whose pattern ends exactly here.
    here: Vec<u32>,
    /// Subscribers whose pattern ends here with `**`.
    rest: Vec<u32>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.star.is_none()
            && self.here.is_empty()
            && self.rest.is_empty()
    }

    fn insert(&mut self, p: &Pattern, slot: u32) {
        let mut node = self;
        for seg in &p.segments {
            node = match seg {
                Segment::Literal(l) => node.literal.entry(l.as_str().into()).or_default(),
                Segment::Star => node.star.get_or_insert_with(Default::default),
            };
        }
        let list = if p.rest {
            &mut node.rest
        } else {
            &mut node.here
        };
        if !list.contains(&slot) {
            list.push(slot);
        }
    }

    /// Remove `slot` from the path of `segs`, pruning emptied branches.
    fn remove(&mut self, segs: &[Segment], rest: bool, slot: u32) {
        match segs.split_first() {
            None => {
                let list = if rest { &mut self.rest } else { &mut self.here };
                list.retain(|s| *s != slot);
            }
            Some((Segment::Literal(l), tail)) => {
                if let Some(child) = self.literal.get_mut(l.as_str()) {
                    child.remove(tail, rest, slot);
                    if child.is_empty() {
                        self.literal.remove(l.as_str());
                    }
                }
            }
            Some((Segment::Star, tail)) => {
                if let Some(child) = self.star.as_mut() {
                    child.remove(tail, rest, slot);
                    if child.is_empty() {
                        self.star = None;
                    }
                }
            }
        }
    }

    /// Push every slot whose pattern matches `segs[depth..]` below this node.
    fn collect(&self, segs: &[&str], depth: usize, operational: bool, out: &mut Vec<u32>) {
        if depth == segs.len() {
            out.extend_from_slice(&self.here);
            return;
        }
        // Operational events only follow the literal `hookbus` edge at the root.
        let root_of_operational = operational && depth == 0;
        if !root_of_operational {
            out.extend_from_slice(&self.rest);
        }
        if let Some(child) = self.literal.get(segs[depth]) {
            child.collect(segs, depth + 1, operational, out);
        }
        if !root_of_operational {
            if let Some(star) = &self.star {
                star.collect(segs, depth + 1, operational, out);
            }
        }
    }
}

/// Every endpoint's subscriptions, indexed for matching.
#[derive(Default, Debug)]
pub struct Subscriptions {
    include: Node,
    exclude: Node,
    /// Slot → endpoint id. Kept apart from the patterns so that the ids of
    /// one match (usually neighbouring slots) share a few cache lines.
    ids: Vec<Option<Box<str>>>,
    /// Slot → its patterns, so removal knows what to undo.
    slots: Vec<Vec<Pattern>>,
    by_id: HashMap<String, u32>,
    free: Vec<u32>,
}

impl Subscriptions {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscribed endpoints.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no endpoint is subscribed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Subscribe `endpoint_id` with `patterns`, replacing its previous ones.
    /// An empty list (or only exclusions) includes every event type.
    pub fn set(&mut self, endpoint_id: &str, patterns: Vec<Pattern>) {
        self.remove(endpoint_id);
        let slot = self.free.pop().unwrap_or(self.slots.len() as u32);
        let mut includes = 0;
        for p in &patterns {
            if p.negated {
                self.exclude.insert(p, slot);
            } else {
                includes += 1;
                self.include.insert(p, slot);
            }
        }
        let mut stored = patterns;
        if includes == 0 {
            let all = Pattern {
                negated: false,
                segments: vec![],
                rest: true,
            };
            self.include.insert(&all, slot);
            stored.push(all);
        }
        if slot as usize == self.slots.len() {
            self.slots.push(Vec::new());
            self.ids.push(None);
        }
        self.slots[slot as usize] = stored;
        self.ids[slot as usize] = Some(endpoint_id.into());
        self.by_id.insert(endpoint_id.to_string(), slot);
    }

    /// Unsubscribe `endpoint_id` entirely.
    pub fn remove(&mut self, endpoint_id: &str) {
        let Some(slot) = self.by_id.remove(endpoint_id) else {
            return;
        };
        self.ids[slot as usize] = None;
        for p in std::mem::take(&mut self.slots[slot as usize]) {
            let root = if p.negated {
                &mut self.exclude
            } else {
                &mut self.include
            };
            root.remove(&p.segments, p.rest, slot);
        }
        self.free.push(slot);
    }

    /// Endpoint ids subscribed to `event_type` (which must be valid), in no particular order.
    pub fn matching(&self, event_type: &str) -> Vec<&str> {
        // Valid types have at most MAX_SEGMENTS segments: split onto the stack.
        let mut buf = [""; MAX_SEGMENTS];
        let mut n = 0;
        for seg in event_type.split('.') {
            if n == MAX_SEGMENTS {
                return Vec::new();
            }
            buf[n] = seg;
            n += 1;
        }
        let segs = &buf[..n];
        let operational = segs.first() == Some(&OPERATIONAL_PREFIX);
        let mut hits = Vec::with_capacity(16);
        self.include.collect(segs, 0, operational, &mut hits);
        if hits.is_empty() {
            return Vec::new();
        }
        hits.sort_unstable();
        hits.dedup();
        let mut excluded = Vec::new();
        if !self.exclude.is_empty() {
            self.exclude.collect(segs, 0, operational, &mut excluded);
        }
        hits.into_iter()
            .filter(|s| !excluded.contains(s))
            .filter_map(|s| self.ids[s as usize].as_deref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(list: &[(&str, &[&str])]) -> Subscriptions {
        let mut s = Subscriptions::new();
        for (id, pats) in list {
            s.set(
                id,
                pats.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            );
        }
        s
    }

    fn hits(s: &Subscriptions, t: &str) -> Vec<String> {
        let mut v: Vec<String> = s.matching(t).into_iter().map(String::from).collect();
        v.sort();
        v
    }

    #[test]
    fn star_matches_exactly_one_segment() {
        let s = subs(&[("a", &["agent.*.failed"]), ("b", &["feature.*"])]);
        assert_eq!(hits(&s, "agent.x.failed"), ["a"]);
        assert!(hits(&s, "agent.failed").is_empty());
        assert!(hits(&s, "agent.x.y.failed").is_empty());
        assert_eq!(hits(&s, "feature.on"), ["b"]);
        assert!(hits(&s, "feature").is_empty());
        assert!(hits(&s, "feature.on.off").is_empty());
    }

    #[test]
    fn trailing_double_star_matches_one_or_more_segments() {
        let s = subs(&[("a", &["system.**"])]);
        assert_eq!(hits(&s, "system.boot"), ["a"]);
        assert_eq!(hits(&s, "system.disk.full.now"), ["a"]);
        assert!(hits(&s, "system").is_empty());
        assert!(hits(&s, "systems.boot").is_empty());
    }

    #[test]
    fn double_star_is_only_allowed_last() {
        assert!(Pattern::parse("a.**.b").is_err());
        assert!(Pattern::parse("**.a").is_err());
        assert!(Pattern::parse("a.**").is_ok());
    }

    #[test]
    fn star_alone_double_star_alone_and_empty_list_match_everything() {
        let s = subs(&[("star", &["*"]), ("dstar", &["**"]), ("empty", &[])]);
        for t in ["a", "a.b", "order.created.eu.v2"] {
            assert_eq!(hits(&s, t), ["dstar", "empty", "star"], "{t}");
        }
    }

    #[test]
    fn exclusions_remove_endpoints() {
        let s = subs(&[
            ("a", &["order.**", "!order.test.*"]),
            ("b", &["!order.created"]),
        ]);
        assert_eq!(hits(&s, "order.created"), ["a"]);
        assert_eq!(hits(&s, "order.test.x"), ["b"]);
        assert_eq!(hits(&s, "order.test.x.y"), ["a", "b"]);
        assert_eq!(hits(&s, "user.created"), ["b"]);
    }

    #[test]
    fn operational_events_need_an_explicit_hookbus_pattern() {
        let s = subs(&[
            ("all", &["**"]),
            ("star", &["*.endpoint.disabled"]),
            ("ops", &["hookbus.**"]),
            ("one", &["hookbus.endpoint.*"]),
        ]);
        assert_eq!(hits(&s, "hookbus.endpoint.disabled"), ["one", "ops"]);
        assert_eq!(hits(&s, "hookbus.delivery.dead_lettered"), ["ops"]);
        assert_eq!(hits(&s, "billing.endpoint.disabled"), ["all", "star"]);
    }

    #[test]
    fn replacing_and_removing_subscriptions_prunes_the_trie() {
        let mut s = subs(&[("a", &["x.*"]), ("b", &["x.y"])]);
        s.set("a", vec![Pattern::parse("z").unwrap()]);
        assert_eq!(hits(&s, "x.y"), ["b"]);
        assert_eq!(hits(&s, "z"), ["a"]);
        s.remove("b");
        s.remove("a");
        assert!(s.is_empty());
        assert!(s.include.is_empty() && s.exclude.is_empty());
    }

    #[test]
    fn rejects_invalid_patterns_with_a_reason() {
        for p in [
            "",
            "!",
            "a..b",
            "a.b c",
            "a.*x",
            "a.**.**",
            &"a.".repeat(17),
        ] {
            assert!(Pattern::parse(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn trie_agrees_with_reference_matcher() {
        let pats: &[&[&str]] = &[
            &["a.*"],
            &["a.**"],
            &["*.b"],
            &["a.b", "!a.*"],
            &["**", "!a.**"],
            &["hookbus.**"],
            &["*.*.c"],
            &[],
        ];
        let mut s = Subscriptions::new();
        let parsed: Vec<Vec<Pattern>> = pats
            .iter()
            .map(|l| l.iter().map(|p| Pattern::parse(p).unwrap()).collect())
            .collect();
        for (i, p) in parsed.iter().enumerate() {
            s.set(&i.to_string(), p.clone());
        }
        for t in ["a", "a.b", "a.b.c", "x.b", "x.y.c", "hookbus.a", "b"] {
            let mut expect: Vec<String> = parsed
                .iter()
                .enumerate()
                .filter(|(_, p)| list_matches(p, t))
                .map(|(i, _)| i.to_string())
                .collect();
            expect.sort();
            assert_eq!(hits(&s, t), expect, "{t}");
        }
    }
}
