//! Property tests: the subscription trie agrees with a reference matcher
//! written here from DESIGN.md's grammar, retry schedules keep their
//! invariants for any policy, attempt and random sample, and a payload kept
//! as text is delivered byte for byte as its JSON tree would be.

use std::collections::BTreeSet;
use std::time::Duration;

use hookbus::bus::matcher::{Pattern, Subscriptions};
use hookbus::config::Dur;
use hookbus::endpoint::retry::{Jitter, RetryPolicy, Strategy as Growth};
use proptest::prelude::*;

/// DESIGN.md "Subscriptions", spelled out on raw strings: `*` is one segment,
/// a trailing `**` one or more, `*`/`**` alone everything, `!` excludes, an
/// empty list means everything, and `hookbus.…` types need a literal
/// `hookbus` first segment.
fn reference(patterns: &[String], event_type: &str) -> bool {
    let segs: Vec<&str> = event_type.split('.').collect();
    let one = |raw: &str| -> bool {
        let parts: Vec<&str> = raw.split('.').collect();
        if segs[0] == "hookbus" && parts[0] != "hookbus" {
            return false;
        }
        if raw == "*" || raw == "**" {
            return true;
        }
        let (fixed, rest) = match parts.split_last() {
            Some((&"**", head)) => (head, true),
            _ => (&parts[..], false),
        };
        let len_ok = if rest {
            segs.len() > fixed.len()
        } else {
            segs.len() == fixed.len()
        };
        len_ok && fixed.iter().zip(&segs).all(|(p, s)| *p == "*" || p == s)
    };
    let (excludes, includes): (Vec<&String>, Vec<&String>) =
        patterns.iter().partition(|p| p.starts_with('!'));
    let included = if includes.is_empty() {
        one("**")
    } else {
        includes.iter().any(|p| one(p))
    };
    included && !excludes.iter().any(|p| one(&p[1..]))
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("order".to_string()),
        Just("hookbus".to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    let seg = prop_oneof![3 => segment(), 1 => Just("*".to_string())];
    (
        any::<bool>(),
        prop::collection::vec(seg, 1..4),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(negated, segs, rest, alone)| {
            let mut p = if alone {
                if rest {
                    "**".to_string()
                } else {
                    "*".to_string()
                }
            } else {
                let mut p = segs.join(".");
                if rest {
                    p.push_str(".**");
                }
                p
            };
            if negated {
                p.insert(0, '!');
            }
            p
        })
}

fn event_type() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..6).prop_map(|s| s.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn trie_agrees_with_the_reference_matcher(
        endpoints in prop::collection::vec(prop::collection::vec(pattern(), 0..4), 1..8),
        types in prop::collection::vec(event_type(), 1..16),
    ) {
        let mut subs = Subscriptions::new();
        for (i, pats) in endpoints.iter().enumerate() {
            let parsed: Vec<Pattern> = pats.iter().map(|p| Pattern::parse(p).unwrap()).collect();
            subs.set(&format!("ep{i}"), parsed);
        }
        for t in &types {
            let got: BTreeSet<String> = subs.matching(t).into_iter().map(str::to_string).collect();
            let want: BTreeSet<String> = endpoints
                .iter()
                .enumerate()
                .filter(|(_, pats)| reference(pats, t))
                .map(|(i, _)| format!("ep{i}"))
                .collect();
            prop_assert_eq!(got, want, "type {}", t);
        }
    }

    #[test]
    fn removing_an_endpoint_leaves_the_others_matching_as_before(
        endpoints in prop::collection::vec(prop::collection::vec(pattern(), 0..4), 2..6),
        t in event_type(),
    ) {
        let mut subs = Subscriptions::new();
        for (i, pats) in endpoints.iter().enumerate() {
            subs.set(&format!("ep{i}"), pats.iter().map(|p| Pattern::parse(p).unwrap()).collect());
        }
        subs.remove("ep0");
        let got: BTreeSet<String> = subs.matching(&t).into_iter().map(str::to_string).collect();
        let want: BTreeSet<String> = endpoints
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, pats)| reference(pats, &t))
            .map(|(i, _)| format!("ep{i}"))
            .collect();
        prop_assert_eq!(got, want);
    }
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        prop_oneof![
            Just(Growth::Exponential),
            Just(Growth::Linear),
            Just(Growth::Fixed)
        ],
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated)
        ],
        1u64..60_000,
        1.0f64..10.0,
        proptest::option::of(1u64..60_000),
        0u64..3_600_000,
    )
        .prop_map(
            |(strategy, jitter, init, multiplier, inc, extra)| RetryPolicy {
                strategy,
                jitter,
                initial_delay: Dur::millis(init),
                multiplier,
                increment: inc.map(Dur::millis),
                max_delay: Dur::millis(init + extra),
                ..Default::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn base_delay_never_shrinks_and_stops_at_the_cap(p in policy(), attempt in 1u32..200) {
        let (now, next) = (p.base_delay(attempt), p.base_delay(attempt + 1));
        prop_assert!(next >= now, "{:?} then {:?}", now, next);
        prop_assert!(next <= p.max_delay.get());
        prop_assert!(now >= p.initial_delay.get().min(p.max_delay.get()));
    }

    #[test]
    fn jitter_stays_within_its_bounds(
        p in policy(),
        attempt in 1u32..200,
        r in 0.0f64..1.0,
        prev_ms in proptest::option::of(0u64..10_000_000),
    ) {
        let prev = prev_ms.map(Duration::from_millis);
        let d = p.next_delay(attempt, prev, None, r);
        let base = p.base_delay(attempt);
        let max = p.max_delay.get();
        let tol = Duration::from_micros(1);
        prop_assert!(d <= max);
        match p.jitter {
            Jitter::None => prop_assert_eq!(d, base),
            Jitter::Full => prop_assert!(d <= base + tol),
            Jitter::Equal => prop_assert!(d + tol >= base / 2 && d <= base + tol),
            Jitter::Decorrelated => {
                let lo = p.initial_delay.get();
                let prev = prev.unwrap_or(lo).max(lo);
                prop_assert!(d + tol >= lo.min(max));
                prop_assert!(d <= (prev * 3).min(max) + tol);
            }
        }
    }

    #[test]
    fn retry_after_wins_but_is_clamped(p in policy(), attempt in 1u32..50, ra_ms in 0u64..10_000_000) {
        let ra = Duration::from_millis(ra_ms);
        prop_assert_eq!(p.next_delay(attempt, None, Some(ra), 0.3), ra.min(p.max_delay.get()));
    }
}

/// Any JSON value without floats (serde_json writes an exponent as `e+`
/// after a round trip, which the text keeps as written): strings of any
/// characters, control characters, quotes and backslashes included.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    json_tree(prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ])
}

/// Any JSON value, floats and integers beyond `i64` included.
fn json_value_with_floats() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    json_tree(prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ])
}

/// Arrays and objects (keys of any characters) nested over `leaf`.
fn json_tree(
    leaf: impl Strategy<Value = serde_json::Value> + 'static,
) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_payload_kept_as_text_is_delivered_byte_for_byte_as_its_tree(
        data in json_value(),
        meta in prop::collection::vec((any::<String>(), json_value()), 0..4),
        pretty in any::<bool>(),
    ) {
        use hookbus::event::{Event, PublishRequest, RawPayload};
        let metadata = serde_json::Value::Object(meta.into_iter().collect());
        let request = serde_json::json!({"type": "a.b", "data": data, "metadata": metadata, "id": "e1"});
        let body = if pretty {
            serde_json::to_string_pretty(&request).unwrap()
        } else {
            serde_json::to_string(&request).unwrap()
        };
        let (req, raw) = RawPayload::parse(body.as_bytes()).expect("kept as text");
        let tree: PublishRequest = serde_json::from_str(&body).unwrap();
        let via_tree = Event::accept(tree);
        let mut via_text = Event::accept(req);
        via_text.timestamp = via_tree.timestamp.clone();
        prop_assert_eq!(via_text.body_with(&raw), via_tree.body());
    }
}

proptest! {
    #[test]
    fn a_script_value_read_from_json_text_is_the_one_its_tree_gives(v in json_value_with_floats()) {
        use hookbus::transform::convert::{text_to_dynamic, to_dynamic};
        let text = serde_json::to_string(&v).unwrap();
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        let direct = text_to_dynamic(text.as_bytes()).unwrap();
        // Debug tells an integer from a float (`1` vs `1.0`).
        prop_assert_eq!(format!("{direct:?}"), format!("{:?}", to_dynamic(&tree)));
    }
}
