//! `POST /v1/events` bodies: parsing and validation never panic, and an
//! accepted event's body is valid JSON that carries its type.
#![no_main]

use hookbus::{Event, PublishRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<PublishRequest>(data) else {
        return;
    };
    if !req.problems().is_empty() {
        return;
    }
    let event_type = req.event_type.clone();
    let event = Event::accept(req);
    let body: serde_json::Value = serde_json::from_slice(&event.body()).expect("body is JSON");
    assert_eq!(body["type"], serde_json::Value::String(event_type));
});
