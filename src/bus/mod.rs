//! The bus: accepts publishes, matches them against subscriptions, commits the
//! event and its deliveries in one batch, and hands deliveries to endpoint actors.

pub mod actor;
mod cluster;
pub mod dead_letters;
pub mod endpoints;
pub mod last_applied;
pub mod matcher;
pub mod messages;
mod outbox;
mod plan;
pub mod pressure;
mod publish;
mod replays;

pub use actor::Bus;
pub use publish::IDEMPOTENCY_WINDOW_MS;

use actix::prelude::*;

use crate::store::{Changes, StoreError};

/// A handler's immediate error answer (the async handlers return futures).
pub(crate) fn fail<T: 'static>(e: BusError) -> actix::ResponseActFuture<Bus, Result<T, BusError>> {
    Box::pin(actix::fut::ready(Err(e)))
}

/// Commit `changes` through the group committer without blocking the bus, then,
/// once they are durable, run `then` on the bus (a store error answers
/// instead and `then` never runs).
pub(crate) fn commit_then<T: 'static>(
    bus: &Bus,
    changes: Changes,
    then: impl FnOnce(&mut Bus) -> Result<T, BusError> + 'static,
) -> actix::ResponseActFuture<Bus, Result<T, BusError>> {
    // Queued now, in handler order: commit order is ticket order.
    let committed = bus.store().commit(changes);
    Box::pin(committed.into_actor(bus).map(move |res, act, _| {
        res?;
        then(act)
    }))
}

/// Commit `changes` through the group committer, then, on the committer
/// thread and in commit order with publishes (see `publish`), hand each
/// endpoint its `Enqueue`; answers `answer` once durable. For replays and
/// redrives: their deliveries reach an endpoint in the same order as a
/// publish's, and the bus is not woken only to send them.
pub(crate) fn commit_and_enqueue<T: Send + 'static>(
    bus: &Bus,
    changes: Changes,
    enqueues: Vec<(String, crate::endpoint::messages::Enqueue)>,
    answer: T,
) -> actix::ResponseActFuture<Bus, Result<T, BusError>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    hand_over(bus, changes, enqueues, move |res| {
        let _ = tx.send(res.map(|()| answer));
    });
    Box::pin(
        async move {
            match rx.await {
                Ok(res) => res.map_err(BusError::from),
                Err(_) => Err(BusError::Unavailable),
            }
        }
        .into_actor(bus),
    )
}

/// [`commit_and_enqueue`]'s work: once `changes` are durable the committer
/// thread sends each endpoint its message (an `Enqueue`, a purge's count),
/// then runs `then` (also on a store error, when nothing is sent).
pub(crate) fn hand_over<M>(
    bus: &Bus,
    changes: Changes,
    messages: Vec<(String, M)>,
    then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
) where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    crate::endpoint::EndpointActor: actix::Handler<M>,
{
    // Addresses taken now: an endpoint deleted meanwhile has a stopped
    // actor, which drops the message, as a look-up at the end would skip it.
    let targets: Vec<_> = messages
        .into_iter()
        .filter_map(|(ep, m)| bus.endpoints.get(&ep).map(|r| (r.addr.clone(), m)))
        .collect();
    bus.store().commit_then(changes, None, move |res| {
        if res.is_ok() {
            for (addr, m) in targets {
                addr.do_send(m);
            }
        }
        then(res);
    });
}

/// Errors from the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The input is invalid; every problem as `(field, reason)`. Its
    /// `Display` lists them all, so a log line or `{e}` says what is wrong.
    #[error("invalid input: {}", problems_text(.0))]
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
    /// The application's publish rate limit is spent; retry after this long.
    #[error("the application's rate limit is exceeded; retry in {0:?}")]
    RateLimited(std::time::Duration),
    /// Healthy endpoints' backlog is over `delivery.max_backlog` (or one
    /// endpoint's over its own bound): nothing was acknowledged; retry shortly.
    #[error("{0}")]
    Overloaded(String),
}

impl From<crate::directory::DirectoryError> for BusError {
    fn from(e: crate::directory::DirectoryError) -> Self {
        use crate::directory::DirectoryError as D;
        match e {
            D::Invalid(p) => BusError::Invalid(p),
            D::Conflict(m) => BusError::Conflict(m),
            D::NotFound(m) => BusError::NotFound(m),
            D::RateLimited(d) => BusError::RateLimited(d),
            D::Store(e) => BusError::Store(e),
        }
    }
}

fn problems_text(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::BusError;

    #[test]
    fn an_invalid_input_error_says_every_problem() {
        let e = BusError::Invalid(vec![
            ("type".into(), "must not be empty".into()),
            ("metadata".into(), "must be a JSON object".into()),
        ]);
        assert_eq!(
            e.to_string(),
            "invalid input: type: must not be empty; metadata: must be a JSON object"
        );
    }
}
