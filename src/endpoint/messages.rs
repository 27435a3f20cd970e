//! Messages an endpoint actor handles.

use std::sync::Arc;

use actix::Message;
use serde::Serialize;

/// An endpoint's compiled transform, or the error that makes every delivery
/// fail; none for plain JSON.
pub type TransformSlot =
    Option<Result<Arc<crate::transform::Compiled>, crate::transform::TransformError>>;
use super::breaker::State as BreakerState;
use super::queue::Item;
use super::stats::StatsView;
use crate::store::records::EndpointRecord;

/// What an endpoint actor asks of the bus. Its only way up is a
/// `Recipient<ToBus>`, so the endpoint floor never names the bus.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ToBus {
    /// Publish an operational `hookbus.*` event about an endpoint (never
    /// delivered to it), already in the outbox; the publish clears it.
    /// (Boxed: an entry holds JSON values, far larger than the other variant.)
    Announce(Box<crate::store::records::OutboxEntry>),
    /// Persist an endpoint's new spec (auto-disable).
    Save {
        /// The endpoint.
        endpoint_id: String,
        /// Its new spec (boxed: it is large, and rare).
        spec: Box<crate::endpoint::spec::EndpointSpec>,
    },
}

/// Matched events this endpoint's filter turned away at publish (counted in its totals).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FilteredOut(pub u64);

/// New (or replayed) deliveries, already durable, in ticket order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    /// The deliveries.
    pub items: Vec<Item>,
    /// How many of them left the dead-letter queue (replay).
    pub replayed: u64,
}

/// Queue rows another cluster node wrote (a publish or replay it took),
/// already in this node's cache: `(ticket, delivery id)`, in any order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Arrived(pub Vec<(u128, String)>);

/// Cluster mode: whether this node drives the endpoint (holds the lease of
/// its partition). An actor that does not drive it makes no attempts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drive(pub bool);

/// Dead letters of this endpoint were purged.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeadLettersPurged(pub u64);

/// The endpoint changed (spec, status, secrets, script); later attempts use it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    /// The new version.
    pub record: Arc<EndpointRecord>,
    /// Its compiled script, swapped in atomically for later deliveries.
    pub transform: TransformSlot,
}

/// Stop the actor (endpoint deleted, or shutdown). Queued rows stay in the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Ask for the actor's live state.
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct GetSnapshot;

/// Live state of one endpoint actor.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Deliveries waiting (memory and store).
    pub queue_depth: usize,
    /// Attempts in flight.
    pub in_flight: usize,
    /// Breaker state.
    pub breaker: BreakerState,
    /// Dead letters in the store.
    pub dead_letters: u64,
    /// Counts and latencies since start.
    pub stats: StatsView,
}

/// Start no new attempts; resolves when the attempts in flight have finished (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;
