//! Redaction before transforms and delivery: pure value masking, kept on
//! the ground floor (`model::redact`) so scripts and deliveries share it.

pub use crate::model::redact::*;
