//! hookbus: a webhook delivery engine — an actor-based event bus with durable
//! queues in an embedded RocksDB.
//!
//! # Architecture
//!
//! A publish (HTTP or [`Hookbus::publish`]) reaches the [`bus::Bus`] actor.
//! The bus validates it, matches its type against the wildcard patterns of
//! the endpoints of the application it was published to (one token trie per
//! application; the flat API is the default application's), drops matches
//! whose payload `filter` rejects the event, and writes the event plus one pending
//! delivery per matched endpoint as a single batch through the store's group
//! committer (one fsync shared by all concurrent publishers). Only then is the
//! publish acknowledged (202), and each delivery handed to its endpoint actor:
//! both straight from the committer thread, in commit order, so the bus is
//! not woken again to pass the result on (`bus/publish.rs`).
//!
//! Every endpoint is an [`endpoint::EndpointActor`] on one of several delivery
//! threads. It owns a bounded in-memory queue (the rest stays in RocksDB and is
//! paged in), its in-flight limit, one retry timer, and a circuit breaker. It
//! signs and sends each attempt with awc, classifies the outcome, records the
//! attempt, and either finishes the delivery, schedules a retry, or moves it to
//! the dead-letter queue. A slow or failing endpoint only ever occupies its own
//! actor. After a crash, every actor pages its pending rows back from the store.
//!
//! **Cluster mode** (a `[cluster]` section; docs/CLUSTER.md) changes where
//! the committer writes, not what the rest does: each change set goes to a
//! replicated NATS JetStream stream as an atomic batch, and every node's
//! RocksDB becomes a cache that an applier keeps in the stream's order. The
//! bus follows other nodes' writes from that applier, and an endpoint actor
//! attempts deliveries only while its node holds the partition lease of the
//! endpoint (`store::replica`: rows, applier, leases).
//!
//! # Layout
//! Floors, each importing only the ones below it (checked by `tests/it/layers.rs`):
//!
//! 1. **Values** — [`model`] (durations, durability, receipts, subscription
//!    patterns, circuit states, the endpoint schema and its policies'
//!    settings, redaction rules), [`event`], [`ids`], [`sign`]. Plain data and
//!    pure functions; nothing above them.
//! 2. **Pure decisions** — in [`endpoint`]: [`endpoint::retry`],
//!    [`endpoint::breaker`], [`endpoint::classify`], [`endpoint::rate`],
//!    [`endpoint::queue`], [`endpoint::depth`], [`endpoint::ssrf`] and [`endpoint::verdict`] (what
//!    an attempt's outcome does to a delivery: deliver, retry at T, dead,
//!    expire, disable, which operational event), plus the request an attempt
//!    sends (`endpoint/outgoing.rs`); in [`bus::matcher`] the subscription
//!    trie. Injected time, unit-tested without actors.
//! 3. **State and I/O** — [`store`] owns every row: callers describe changes
//!    ([`store::Changes`]: enqueue, attempt, dead letter…) and only the store
//!    builds keys; its public handle reads. It also keeps the indexes (dead
//!    letters by endpoint and time, events by time), per-endpoint totals and
//!    the operational-event outbox. [`transform`] runs Rhai on its own threads,
//!    with CPU shares handed fairly between endpoints.
//!    [`telemetry`] names every metric and event. [`directory`] holds the
//!    applications (tenants), their hashed API tokens and the event-type
//!    catalogue with compiled JSON Schemas, in memory over the store.
//! 4. **Actors** — [`endpoint::EndpointActor`] (`actor.rs` wiring, `intake.rs`
//!    deliveries in from the bus and the durable queue, `attempt.rs` carrying
//!    out a verdict, `control.rs` the bus's other orders, [`endpoint::test_send`]) reports up through a
//!    `Recipient<ToBus>` only; [`bus::Bus`] creates and owns the endpoint
//!    actors, commits publishes, replays and endpoint changes (replays and
//!    purges a chunk per turn, so publishes are planned between chunks).
//! 5. **Front ends** — [`Hookbus`] (the handle; one `ask` helper for actor
//!    calls) and [`AppHandle`] (one application's view: every call scoped
//!    to it; `Hookbus`'s own calls are the default application's), [`HookbusBuilder`], [`config`], [`api`] by resource
//!    (`events`, `endpoints/{read,write,actions}`, `deliveries`,
//!    `dead_letters`, `transforms`; mountable with [`api::configure`]),
//!    `server.rs` ([`run`], `hookbus serve`), [`cli`], [`bridge`], [`outcomes`].

#![warn(missing_docs)]

pub mod api;
pub mod bridge;
pub mod bus;
pub mod cli;
pub mod config;
pub mod directory;
pub mod endpoint;
pub mod event;
#[doc(hidden)]
pub mod ids;
pub mod model;
pub mod outcomes;
pub mod sign;
pub mod store;
pub mod telemetry;
pub mod transform;

mod builder;
mod hub;
mod scoped;
pub mod server;

pub use api::ApiError;
pub use builder::HookbusBuilder;
pub use bus::BusError;
pub use config::Config;
pub use endpoint::spec::EndpointSpec;
pub use event::{Event, PublishRequest};
pub use hub::{Error, Hookbus, error_report};
pub use model::PublishReceipt;
pub use outcomes::{Outcome, OutcomeKind};
pub use scoped::AppHandle;
pub use server::run;

/// The `metrics` facade hookbus records into. A host that installs its own
/// recorder must use this same major version (re-exported here so the two
/// cannot drift): a recorder from another `metrics` major is a different
/// global, and hookbus's series would silently go missing from it.
pub use metrics;
/// The Prometheus exporter whose `PrometheusHandle` [`HookbusBuilder::metrics_handle`] takes.
pub use metrics_exporter_prometheus;

/// Everything a host embedding hookbus usually needs: `use hookbus::prelude::*;`.
pub mod prelude {
    pub use crate::api::{ApiError, Routes};
    pub use crate::outcomes::{Outcome, OutcomeKind};
    pub use crate::{
        AppHandle, BusError, EndpointSpec, Error, Hookbus, HookbusBuilder, PublishReceipt,
        PublishRequest,
    };
}
