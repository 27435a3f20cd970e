//! Opening a store written by an older version: the indexes it did not keep
//! are built once from the rows, then a version in `meta` says they exist.
//! Runs before the committer starts, so nothing writes meanwhile.

use rocksdb::{DB, IteratorMode, WriteBatch};

use super::op::cf;
use super::records::{DeadLetter, StoredEvent};
use super::{Cf, StoreError, keys};

/// `meta` key of the index layout version.
const INDEX_VERSION_KEY: &[u8] = b"index_version";
/// Version 1: `dead_by_endpoint`, `dead_by_time`, `events_by_time`.
const INDEX_VERSION: u32 = 1;
/// Rows per batch while building.
const CHUNK: usize = 10_000;

/// Build every index the store lacks (a no-op once built).
pub(super) fn build_indexes(db: &DB) -> Result<(), StoreError> {
    let meta = cf(db, Cf::Meta);
    let version = db
        .get_cf(meta, INDEX_VERSION_KEY)?
        .and_then(|v| v.try_into().ok())
        .map_or(0, u32::from_be_bytes);
    if version >= INDEX_VERSION {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut batch = WriteBatch::default();
    let mut rows = 0usize;
    for item in db.iterator_cf(cf(db, Cf::DeadLetters), IteratorMode::Start) {
        let (_, v) = item?;
        // An unreadable row is reported when read, not fatal here.
        let Ok(dl) = serde_json::from_slice::<DeadLetter>(&v) else {
            continue;
        };
        batch.put_cf(
            cf(db, Cf::DeadByEndpoint),
            keys::dead_by_endpoint(&dl.endpoint_id, &dl.delivery_id),
            dl.dead_at.to_be_bytes(),
        );
        batch.put_cf(
            cf(db, Cf::DeadByTime),
            keys::dead_by_time(dl.dead_at, &dl.delivery_id),
            dl.endpoint_id.as_bytes(),
        );
        rows += 1;
        flush_every(db, &mut batch, rows)?;
    }
    for item in db.iterator_cf(cf(db, Cf::Events), IteratorMode::Start) {
        let (_, v) = item?;
        let Ok(stored) = serde_json::from_slice::<StoredEvent>(&v) else {
            continue;
        };
        // An unreadable timestamp indexes as "now-ish never": u64::MAX is never swept.
        let at = stored.event.accepted_ms().unwrap_or(u64::MAX);
        batch.put_cf(
            cf(db, Cf::EventsByTime),
            keys::event_by_time(at, &stored.event.id),
            b"",
        );
        rows += 1;
        flush_every(db, &mut batch, rows)?;
    }
    batch.put_cf(meta, INDEX_VERSION_KEY, INDEX_VERSION.to_be_bytes());
    db.write(batch)?;
    if rows > 0 {
        tracing::info!(
            rows,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Built the store's dead-letter and event-time indexes (first start of this version)."
        );
    }
    Ok(())
}

fn flush_every(db: &DB, batch: &mut WriteBatch, rows: usize) -> Result<(), StoreError> {
    if rows % CHUNK == 0 {
        db.write(std::mem::take(batch))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Durability;
    use crate::store::crypto::MasterKey;
    use crate::store::{Changes, DeadLetterQuery, Store};

    #[test]
    fn a_store_without_indexes_gets_them_built_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let key = || MasterKey::load_or_create(None, dir.path()).unwrap();
        {
            let store = Store::open(&path, Durability::Buffered, key()).unwrap();
            let mut c = Changes::new();
            for (i, ep) in ["ep_a", "ep_b", "ep_a"].iter().enumerate() {
                c.dead_letter(&DeadLetter {
                    delivery_id: format!("dlv_{i}"),
                    endpoint_id: ep.to_string(),
                    app: crate::model::app::default_id(),
                    event_id: "evt_1".into(),
                    reason: "gone".into(),
                    attempts: 1,
                    dead_at: 100 + i as u64,
                });
            }
            store.write_now(&c).unwrap();
            // As an older version left it: rows, no indexes, no version.
            let db = &store.db;
            for family in [Cf::DeadByEndpoint, Cf::DeadByTime] {
                let keys: Vec<_> = db
                    .iterator_cf(cf(db, family), IteratorMode::Start)
                    .map(|r| r.unwrap().0)
                    .collect();
                for k in keys {
                    db.delete_cf(cf(db, family), k).unwrap();
                }
            }
            db.delete_cf(cf(db, Cf::Meta), INDEX_VERSION_KEY).unwrap();
            let q = DeadLetterQuery {
                endpoint_id: Some("ep_a"),
                limit: 10,
                ..Default::default()
            };
            assert!(store.dead_letters_where(&q).unwrap().is_empty());
        }
        let store = Store::open(&path, Durability::Buffered, key()).unwrap();
        let q = DeadLetterQuery {
            endpoint_id: Some("ep_a"),
            limit: 10,
            ..Default::default()
        };
        let ids: Vec<_> = store
            .dead_letters_where(&q)
            .unwrap()
            .into_iter()
            .map(|d| d.delivery_id)
            .collect();
        assert_eq!(ids, ["dlv_0", "dlv_2"]);
        let recent = DeadLetterQuery {
            since: Some(101),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.dead_letters_where(&recent).unwrap().len(), 2);
        assert_eq!(store.dead_letter_counts().unwrap()["ep_a"], 2);
    }
}
