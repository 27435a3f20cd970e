//! How publishes are made durable before the 202 (`storage.durability`).

use serde::{Deserialize, Serialize};

/// How publishes are made durable before the 202.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// fsync the write-ahead log for every commit group (default): survives power loss.
    #[default]
    Fsync,
    /// Write the WAL without fsync: survives a process crash, not a power cut.
    Buffered,
}
