//! Whether a node's local cache can be caught up from where it stopped, and
//! wiping it when not.
//!
//! A cache is only a copy: throwing it away costs a rebuild from the stream,
//! never data. It is rebuilt when it copies another stream (deleted and
//! recreated), claims sequences the stream never had, or stopped longer ago
//! than a tombstone lives (it may have missed deletes).

use std::time::Duration;

use rocksdb::{DB, WriteBatch};

use super::super::op::cf;
use super::super::{Cf, StoreError, keys};
use super::applier::{applied_ms, applied_seq};
use crate::ids::now_ms;

/// Why the cache must be rebuilt, or `None` when it can catch up.
pub(super) fn stale(
    db: &DB,
    identity: &str,
    last_seq: u64,
    tombstone_ttl: Duration,
) -> Result<Option<&'static str>, StoreError> {
    let stream = db.get_cf(cf(db, Cf::Meta), keys::REPLICA_STREAM)?;
    let applied = applied_seq(db);
    let never = stream.is_none() && applied == 0;
    if never && non_empty(db) {
        // An embedded store: its rows are not the cluster's, and wiping them
        // would lose them.
        return Err(StoreError::Cluster(
            "storage.path holds an embedded store; a cluster node keeps only a cache there: give it an empty directory"
                .into(),
        ));
    }
    Ok(if never {
        None
    } else if stream.as_deref() != Some(identity.as_bytes()) {
        Some("the cache copies another rows stream")
    } else if applied > last_seq {
        Some("the cache is ahead of the rows stream")
    } else if now_ms().saturating_sub(applied_ms(db)) > tombstone_ttl.as_millis() as u64 / 2 {
        Some("the cache stopped longer ago than half the tombstone TTL")
    } else {
        None
    })
}

fn non_empty(db: &DB) -> bool {
    Cf::ALL.iter().filter(|c| **c != Cf::Meta).any(|c| {
        db.iterator_cf(cf(db, *c), rocksdb::IteratorMode::Start)
            .next()
            .is_some()
    })
}

/// Record which stream the cache copies, deleting every row first when
/// `wipe` (the rows, not the files: `storage.path` may hold other things).
pub(super) fn adopt(db: &DB, identity: &str, wipe: bool) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    if wipe {
        // Keys are far shorter than this; every key sorts before it.
        let end = vec![0xffu8; 4096];
        for c in Cf::ALL {
            batch.delete_range_cf(cf(db, c), Vec::<u8>::new(), end.clone());
        }
    }
    batch.put_cf(cf(db, Cf::Meta), keys::REPLICA_STREAM, identity.as_bytes());
    db.write(batch)?;
    Ok(())
}
