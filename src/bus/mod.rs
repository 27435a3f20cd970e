//! The bus: accepts publishes, matches them against subscriptions, commits the
//! event and its deliveries in one batch, and hands deliveries to endpoint actors.

pub mod actor;
pub mod dead_letters;
pub mod endpoints;
pub mod last_applied;
pub mod matcher;
pub mod messages;

pub use actor::Bus;

use actix::prelude::*;

use crate::store::{Op, StoreError};

/// A handler's immediate error answer (the async handlers return futures).
pub(crate) fn fail<T: 'static>(e: BusError) -> actix::ResponseActFuture<Bus, Result<T, BusError>> {
    Box::pin(actix::fut::ready(Err(e)))
}

/// Commit `ops` through the group committer without blocking the bus, then,
/// once they are durable, run `then` on the bus (a store error answers
/// instead and `then` never runs).
pub(crate) fn commit_then<T: 'static>(
    bus: &Bus,
    ops: Vec<Op>,
    then: impl FnOnce(&mut Bus) -> Result<T, BusError> + 'static,
) -> actix::ResponseActFuture<Bus, Result<T, BusError>> {
    let store = bus.store().clone();
    Box::pin(
        async move { store.commit(ops).await }
            .into_actor(bus)
            .map(move |res, act, _| {
                res?;
                then(act)
            }),
    )
}

/// Errors from the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The input is invalid; every problem as `(field, reason)`.
    #[error("invalid input")]
    Invalid(Vec<(String, String)>),
    /// Something with that id or name already exists.
    #[error("{0}")]
    Conflict(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus is not running (shutting down).
    #[error("the bus is not running")]
    Unavailable,
}
