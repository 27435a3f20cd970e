//! Durable state in RocksDB: endpoints, events, deliveries, the per-endpoint
//! queue, attempts and dead letters, written through a group committer.
//!
//! Writes go through [`Changes`]: the callers say what happened (a delivery
//! enqueued, an attempt recorded, a dead letter), and only this module turns
//! that into keys and column families. [`Store`]'s public methods read;
//! writing is for the crate's own bus and endpoint actors, so an embedder
//! cannot put rows behind their back.
//!
//! Column families (keys in `keys.rs`):
//! - `endpoints`: endpoint id → [`records::EndpointRecord`]
//! - `events`: event id → [`records::StoredEvent`] (event + its deliveries)
//! - `deliveries`: delivery id → [`records::DeliveryRecord`] (binary, see `codec.rs`)
//! - `queue`: endpoint id ‖ 0 ‖ ticket → delivery id, one row per pending delivery,
//!   ordered by ticket (a process-monotonic ULID), so paging preserves publish order
//! - `attempts`: delivery id ‖ 0 ‖ attempt number → [`records::AttemptRecord`] (binary)
//! - `endpoint_deliveries`: endpoint id ‖ 0 ‖ delivery id → empty (history index)
//! - `dead_letters`: delivery id → [`records::DeadLetter`]
//! - `endpoint_totals`: endpoint id → [`records::EndpointTotals`] (counts since
//!   creation, the `disable_after` clock)
//! - `outbox`: event id → [`records::OutboxEntry`] (operational events not yet published)
//! - indexes, so a page or a time range costs what it returns, not the total:
//!   `dead_by_endpoint` (endpoint id ‖ 0 ‖ delivery id → dead_at),
//!   `dead_by_time` (dead_at ‖ delivery id → endpoint id), `events_by_time`
//!   (accepted ms ‖ event id → empty, for the retention sweep). Built once
//!   from the rows when a store written by an older version is opened.
//! - `apps`: app id → [`records::AppRecord`]; `tokens`: token id →
//!   [`records::TokenRecord`] (a SHA-256, never the token); `event_types`:
//!   type name → [`records::EventTypeRecord`]
//! - `idempotency`, `meta`: reserved for idempotency keys and store metadata.

mod changes;
mod codec;
mod committer;
pub mod crypto;
mod db;
mod dead_index;
mod keys;
mod lifetime;
mod migrate;
mod op;
mod reads;
pub mod records;
mod replica;
pub mod retention;

pub use changes::Changes;
pub use codec::DecodeError;
pub use committer::{Coming, Written};
pub use db::{ClusterStatus, Store};
pub use dead_index::DeadLetterQuery;
/// Most rows cluster mode commits as one atomic JetStream batch; a larger
/// change set is split (see `replica::rows::batches`).
pub(crate) use replica::MAX_BATCH as MAX_ATOMIC_ROWS;
pub use replica::leases::{Owned, partition_of};
pub use replica::{Applied, ClusterAuth, ClusterSettings};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error (I/O, corruption, disk full).
    #[error("storage error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A group commit failed; nothing in the group was written.
    #[error("storage write failed: {0}")]
    Write(String),
    /// A stored value could not be decoded.
    #[error("corrupt {what} record: {source}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
    /// A sealed secret could not be opened (wrong master key?).
    #[error("{0}")]
    Secret(String),
    /// The committer thread has stopped (shutdown in progress).
    #[error("the store is shutting down")]
    Closed,
    /// Cluster mode: NATS or JetStream could not be reached or refused.
    #[error("cluster storage: {0}")]
    Cluster(String),
}

/// The column families, in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cf {
    /// Endpoint records.
    Endpoints,
    /// Events with their delivery list.
    Events,
    /// Delivery state.
    Deliveries,
    /// Pending deliveries per endpoint, in order.
    Queue,
    /// Attempt history.
    Attempts,
    /// Per-endpoint delivery index.
    EndpointDeliveries,
    /// Dead letters.
    DeadLetters,
    /// Idempotency keys.
    Idempotency,
    /// Store metadata.
    Meta,
    /// Per-endpoint totals and failure clock.
    EndpointTotals,
    /// Operational events not yet published.
    Outbox,
    /// Dead letters by endpoint, in delivery-id order.
    DeadByEndpoint,
    /// Dead letters by time of death.
    DeadByTime,
    /// Events by acceptance time.
    EventsByTime,
    /// Applications (tenants).
    Apps,
    /// Application-scoped API tokens (hashed).
    Tokens,
    /// The event-type catalogue.
    EventTypes,
}

impl Cf {
    /// Every column family.
    pub const ALL: [Cf; 17] = [
        Cf::Endpoints,
        Cf::Events,
        Cf::Deliveries,
        Cf::Queue,
        Cf::Attempts,
        Cf::EndpointDeliveries,
        Cf::DeadLetters,
        Cf::Idempotency,
        Cf::Meta,
        Cf::EndpointTotals,
        Cf::Outbox,
        Cf::DeadByEndpoint,
        Cf::DeadByTime,
        Cf::EventsByTime,
        Cf::Apps,
        Cf::Tokens,
        Cf::EventTypes,
    ];

    /// RocksDB name.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Endpoints => "endpoints",
            Cf::Events => "events",
            Cf::Deliveries => "deliveries",
            Cf::Queue => "queue",
            Cf::Attempts => "attempts",
            Cf::EndpointDeliveries => "endpoint_deliveries",
            Cf::DeadLetters => "dead_letters",
            Cf::Idempotency => "idempotency",
            Cf::Meta => "meta",
            Cf::EndpointTotals => "endpoint_totals",
            Cf::Outbox => "outbox",
            Cf::DeadByEndpoint => "dead_by_endpoint",
            Cf::DeadByTime => "dead_by_time",
            Cf::EventsByTime => "events_by_time",
            Cf::Apps => "apps",
            Cf::Tokens => "tokens",
            Cf::EventTypes => "event_types",
        }
    }
}
