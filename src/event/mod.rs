//! Events: the publish request, its validation, and the body delivered by default.
//!
//! Files: `request` (what a publisher sends and its checks), `delivered`
//! (the event as accepted, stored and delivered by default), `raw` (an HTTP
//! publish's payload kept as text).

mod delivered;
mod raw;
mod request;

pub use delivered::{Event, rfc3339_ms};
pub use raw::RawPayload;
pub(crate) use request::is_segment_byte;
pub use request::{
    MAX_ID_LEN, MAX_SEGMENTS, MAX_TYPE_LEN, PublishRequest, is_reserved_type, is_traceparent,
    validate_event_type,
};
