//! The endpoint resource: `/v1/endpoints` and its actions.
//!
//! `view` is how an endpoint looks through the API (shared by the other
//! resources' pages); `read`, `write` and `actions` hold the routes.

pub mod actions;
pub mod read;
pub mod view;
pub mod write;

pub use read::EndpointStats;
pub use view::{EndpointView, Page, REDACTED, page_limit, redact, rfc3339};
pub(crate) use write::merge_patch;
