//! Retention: delete finished events (with their deliveries, attempts, index
//! rows and dead letters) once they are older than `storage.retention`.
//!
//! An event is only removed when none of its deliveries is still open, so
//! retention can never drop work that has not finished. The sweep walks the
//! `events_by_time` index up to the cutoff, so it reads the old events only,
//! never the whole store.

use rocksdb::{Direction, IteratorMode};

use super::op::cf;
use super::records::DeliveryStatus;
use super::{Cf, Changes, Store, StoreError, keys};

/// Events examined per batch.
const PAGE: usize = 512;

/// Delete every finished event accepted before `cutoff_ms` (Unix ms); returns how many.
pub fn sweep(store: &Store, cutoff_ms: u64) -> Result<usize, StoreError> {
    let mut removed = 0;
    let mut start = Vec::new();
    loop {
        let mut page = Vec::with_capacity(PAGE);
        for item in store.db.iterator_cf(
            cf(&store.db, Cf::EventsByTime),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, _) = item?;
            let Some((at, id)) = keys::split_timed(&k) else {
                continue;
            };
            if at >= cutoff_ms || page.len() == PAGE {
                break;
            }
            page.push((at, id.to_string()));
        }
        let Some((last_at, last_id)) = page.last().cloned() else {
            break;
        };
        let full = page.len() == PAGE;
        let mut changes = Changes::new();
        for (at, id) in page {
            let Some(stored) = store.event(&id)? else {
                // An index row whose event is gone: drop it too.
                changes.forget_event(&id, at);
                continue;
            };
            let mut doomed = Vec::new();
            let mut open = false;
            for d in &stored.deliveries {
                match store.delivery(&d.id)? {
                    Some(rec) if rec.status.is_open() => open = true,
                    Some(rec) => doomed.push(rec),
                    None => {}
                }
            }
            if open {
                continue;
            }
            for rec in &doomed {
                // Only a dead delivery can have a dead letter to forget.
                let dead = match rec.status {
                    DeliveryStatus::Dead => store.dead_letter(&rec.id)?,
                    _ => None,
                };
                changes.forget_delivery(rec, dead.as_ref());
            }
            changes.forget_event(&id, at);
            removed += 1;
        }
        store.write_now(&changes)?;
        if !full {
            break;
        }
        start = keys::event_by_time(last_at, &last_id);
        start.push(0);
    }
    Ok(removed)
}
