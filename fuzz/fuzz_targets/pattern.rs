//! Event-type patterns and event types: parsing never panics, and the
//! subscription trie agrees with the straightforward per-pattern matcher.
//! Input: first line = comma-separated patterns, other lines = event types.
#![no_main]

use hookbus::bus::matcher::{Pattern, Subscriptions, list_matches};
use hookbus::event::validate_event_type;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let raw = lines.next().unwrap_or_default();
    let patterns: Vec<Pattern> = raw.split(',').filter_map(|p| Pattern::parse(p).ok()).collect();
    let mut subs = Subscriptions::new();
    subs.set("ep", patterns.clone());
    for event_type in lines {
        let valid = validate_event_type(event_type).is_ok();
        let by_trie = !subs.matching(event_type).is_empty();
        // Only well-formed types reach the matcher in the engine; both
        // matchers must still agree on them.
        if valid {
            assert_eq!(
                by_trie,
                list_matches(&patterns, event_type),
                "patterns {raw:?} type {event_type:?}"
            );
        }
    }
});
