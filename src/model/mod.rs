//! The ground floor: plain value types that every other module may use and
//! that import nothing above them — durations, the durability choice, and the
//! receipt a publish answers with.

pub mod circuit;
pub mod durability;
pub mod duration;
pub mod receipt;

pub use circuit::CircuitState;
pub use durability::Durability;
pub use duration::Dur;
pub use receipt::{PublishReceipt, ReceiptDelivery};
