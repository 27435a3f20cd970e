//! Retention: delete finished events (with their deliveries, attempts, index
//! rows and dead letters) once they are older than `storage.retention`.
//!
//! An event is only removed when none of its deliveries is still open, so
//! retention can never drop work that has not finished.

use super::records::StoredEvent;
use super::{Cf, Changes, Store, StoreError};

/// Delete every finished event accepted before `cutoff_ms` (Unix ms); returns how many.
pub fn sweep(store: &Store, cutoff_ms: u64) -> Result<usize, StoreError> {
    let mut removed = 0;
    let mut start: Option<Vec<u8>> = None;
    loop {
        let page = store.scan(Cf::Events, b"", start.as_deref(), 512)?;
        let Some((last, _)) = page.last() else { break };
        let mut next = last.clone();
        next.push(0);
        let full = page.len() == 512;
        let mut changes = Changes::new();
        for (_, value) in page {
            let Ok(stored) = serde_json::from_slice::<StoredEvent>(&value) else {
                continue;
            };
            // An unreadable timestamp never counts as old.
            let accepted = stored.event.accepted_ms().unwrap_or(u64::MAX);
            if accepted >= cutoff_ms {
                continue;
            }
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
                changes.forget_delivery(rec);
            }
            changes.forget_event(&stored.event.id);
            removed += 1;
        }
        store.write_now(&changes)?;
        if !full {
            break;
        }
        start = Some(next);
    }
    Ok(removed)
}
