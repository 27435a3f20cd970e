//! Identifier generation: prefixed, time-ordered ULIDs shared by the whole process.
//!
//! Internal: public only for hookbus's own tests and benches, not part of the
//! host API (give your own records ids of your own).
//!
//! One monotonic generator serves every id so that ids made later in the
//! process always sort later. Endpoint queues rely on this: a queue key made
//! after the page cursor sorts after it, so paging from RocksDB never skips it.

use std::sync::Mutex;
use std::time::SystemTime;

use ulid::{Generator, Ulid};

/// Process-wide monotonic generator; a std mutex because the critical section
/// is a few nanoseconds and never awaits.
static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A fresh ULID, strictly greater than every ULID returned before in this process.
pub fn next_ulid() -> Ulid {
    let mut guard = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let generator = guard.get_or_insert_with(Generator::new);
    // `generate` only fails when 80 random bits overflow within one
    // millisecond; fall back to a fresh random ULID in that practically
    // impossible case rather than panic.
    generator
        .generate_from_datetime(SystemTime::now())
        .unwrap_or_else(|_| Ulid::new())
}

/// A new event id, `evt_<ULID>`.
pub fn event_id() -> String {
    format!("evt_{}", next_ulid())
}

/// A new delivery id, `dlv_<ULID>`.
pub fn delivery_id() -> String {
    format!("dlv_{}", next_ulid())
}

/// A new endpoint id, `ep_<ULID>`.
pub fn endpoint_id() -> String {
    format!("ep_{}", next_ulid())
}

/// Milliseconds since the Unix epoch, the unit of every stored timestamp.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 with milliseconds, UTC, of a Unix-ms time: the one timestamp
/// format of the API, the CLI and the log.
pub fn rfc3339_ms(ms: u64) -> String {
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_strictly_increasing() {
        let a = delivery_id();
        let b = delivery_id();
        assert!(a.starts_with("dlv_") && b.starts_with("dlv_"));
        assert!(b > a, "{b} should sort after {a}");
        assert!(event_id().starts_with("evt_"));
        assert!(endpoint_id().starts_with("ep_"));
    }
}
