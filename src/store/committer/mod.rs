//! The group committer: one thread turns every concurrent publish into one
//! RocksDB `WriteBatch` and one fsync, then wakes each publisher.
//!
//! Why a dedicated OS thread: the write blocks on fsync for milliseconds; on
//! an actix arbiter that would stall every actor sharing it. While one group
//! is being synced, new requests pile up in the channel and form the next
//! group, so the fsync cost is shared by everyone who published meanwhile.
//!
//! Delivery outcomes come here too, as *unsynced* requests: the endpoint
//! actors never call RocksDB on their threads (they would wait behind the
//! fsync group and memtable switches, on the threads that run awc). An
//! unsynced request rides in whatever group forms next; a group with no
//! durable request in it is written without fsync. One thread writes
//! everything, so writes land in the order they were queued.
//!
//! A group with a publish in it may wait, briefly, for publishes already on
//! their way (see [`Coming`]): like PostgreSQL's `commit_siblings`, it waits
//! only for work known to be coming, never on a timer alone, so a lone
//! publisher or a closed loop whose every client is already in the group is
//! not slowed down, while under load one fsync serves more publishes.
//!
//! Once a group is written, each request learns its result in queue order:
//! a waiting future, or a short follow-up run right here (a publish's: answer
//! the publisher, hand its deliveries to endpoint actors), so no other thread
//! is woken only to pass a result on.
//!
//! Where a group goes is a [`Sink`]: the local RocksDB (embedded mode), or
//! JetStream in cluster mode (the `replica` module), whose answer comes once
//! the rows are replicated and applied to the local cache.

mod group;
mod handle;
#[cfg(test)]
mod tests;

pub(crate) use group::Sink;
pub(crate) use handle::Committer;
pub use handle::{Coming, Written};
