//! Endpoints: one actor per endpoint owning its queue, in-flight limit, retry
//! timer and circuit breaker, plus the pure decisions it relies on.

pub mod actor;
mod attempt;
pub mod breaker;
pub mod classify;
mod cluster;
mod control;
pub mod deliver;
pub mod depth;
mod intake;
pub mod messages;
mod outgoing;
pub mod queue;
pub mod rate;
pub mod redact;
pub mod retry;
mod settle;
pub mod spec;
pub mod ssrf;
pub mod stats;
pub mod test_send;
mod unsettled;
pub mod verdict;

pub use actor::EndpointActor;
