//! hookbus: a webhook delivery engine — an actor-based event bus with durable
//! queues in an embedded RocksDB.
//!
//! # Architecture
//!
//! A publish (HTTP or [`Hookbus::publish`]) reaches the [`bus::Bus`] actor.
//! The bus validates it, matches its type against every endpoint's wildcard
//! patterns through a token trie, and writes the event plus one pending
//! delivery per matched endpoint as a single batch through the store's group
//! committer (one fsync shared by all concurrent publishers). Only then is the
//! publish acknowledged (202), and each delivery handed to its endpoint actor.
//!
//! Every endpoint is an [`endpoint::EndpointActor`] on one of several delivery
//! threads. It owns a bounded in-memory queue (the rest stays in RocksDB and is
//! paged in), its in-flight limit, one retry timer, and a circuit breaker. It
//! signs and sends each attempt with awc, classifies the outcome, records the
//! attempt, and either finishes the delivery, schedules a retry, or moves it to
//! the dead-letter queue. A slow or failing endpoint only ever occupies its own
//! actor. After a crash, every actor pages its pending rows back from the store.
//!
//! # Layout
//! - [`model`]: the ground floor — plain values that import nothing above them
//!   (`event`, `ids` and `sign` aside): durations, durability, receipts,
//!   subscription patterns, circuit states, the endpoint schema and its
//!   policies' settings. The logic acting on them lives higher up.
//! - [`config`]: `hookbus.toml` serde types, env overrides, `validate()`.
//! - [`event`]: the publish request, event-type grammar, the delivered body.
//! - [`bus`]: the bus actor, subscription trie ([`bus::matcher`]) and its messages.
//! - [`endpoint`]: the endpoint actor and its pure parts (retry, breaker, classify, queue, deliver, spec).
//! - [`sign`]: Standard Webhooks and `sha256=` signatures.
//! - [`store`]: RocksDB column families, records, and the group committer.
//! - [`api`]: actix-web routes by resource (`events`, `endpoints/{read,write,actions}`,
//!   `deliveries`, `dead_letters`, `transforms`), the browser guard, the error
//!   format and the served OpenAPI document; mountable with [`api::configure`].
//! - `server.rs`: [`run`], the `hookbus serve` server around an engine.
//! - [`transform`]: the Rhai engine, script contracts, built-in formats and the worker pool.
//! - [`telemetry`]: metric names, telemetry events and the opt-in Prometheus recorder.
//! - [`cli`]: the command-line front end used by the `hookbus` binary.
//! - [`ids`]: prefixed, monotonic ULIDs and the one RFC 3339 time format.
//! - [`bridge`]: publish from a host's broadcast/mpsc channels.
//! - [`outcomes`]: delivery outcomes for the host, in-process ([`Hookbus::outcomes`]).
//! - [`HookbusBuilder`]: configure and start an embedded engine.

#![warn(missing_docs)]

pub mod api;
pub mod bridge;
pub mod bus;
pub mod cli;
pub mod config;
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
mod server;

pub use api::ApiError;
pub use builder::HookbusBuilder;
pub use bus::BusError;
pub use config::Config;
pub use endpoint::spec::EndpointSpec;
pub use event::{Event, PublishRequest};
pub use hub::{Error, Hookbus, error_report};
pub use model::PublishReceipt;
pub use outcomes::{Outcome, OutcomeKind};
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
        BusError, EndpointSpec, Error, Hookbus, HookbusBuilder, PublishReceipt, PublishRequest,
    };
}
