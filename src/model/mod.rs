//! The ground floor: plain value types that every other module may use and
//! that import nothing above them (but `event`'s grammar constants) —
//! durations, the durability choice, subscription patterns, circuit states,
//! and the receipt a publish answers with.

pub mod app;
pub mod circuit;
pub mod durability;
pub mod duration;
pub mod event_type;
pub mod filter;
pub mod pattern;
pub mod policy;
pub mod receipt;
pub mod redact;
pub mod spec;
mod spec_checks;
pub mod transform;

pub use circuit::CircuitState;
pub use durability::Durability;
pub use duration::Dur;
pub use receipt::{PublishReceipt, ReceiptDelivery};
