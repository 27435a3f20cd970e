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

use ulid::Ulid;

/// The greatest ULID handed out (or declared taken by [`advance_past`]); a
/// std mutex because the critical section is a few nanoseconds and never awaits.
static LAST: Mutex<u128> = Mutex::new(0);

/// A fresh ULID, strictly greater than every ULID returned before in this
/// process and than every one passed to [`advance_past`] — even when the
/// clock steps back (then it counts up from the last one).
pub fn next_ulid() -> Ulid {
    let fresh = Ulid::from_datetime(SystemTime::now()).0;
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    *last = if fresh > *last {
        fresh
    } else {
        last.saturating_add(1)
    };
    Ulid(*last)
}

/// Every later ULID sorts after `taken` (queue tickets left by an earlier
/// process, whose clock may have been ahead of this one's).
pub fn advance_past(taken: u128) {
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    *last = (*last).max(taken);
}

#[cfg(test)]
mod ulid_tests {
    use super::*;

    #[test]
    fn ulids_stay_above_a_ticket_from_the_future() {
        let future =
            Ulid::from_datetime(SystemTime::now() + std::time::Duration::from_secs(3600)).0;
        advance_past(future);
        let a = next_ulid().0;
        let b = next_ulid().0;
        assert!(future < a && a < b);
    }
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
/// Times past the year 9999 (a rotation grace of millions of days, found by
/// Schemathesis) read as its last millisecond: RFC 3339 has four-digit years,
/// and the formatter would otherwise fail (a panic in `to_string`).
pub fn rfc3339_ms(ms: u64) -> String {
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms.min(MAX_RFC3339_MS));
    humantime::format_rfc3339_millis(t).to_string()
}

/// 9999-12-31T23:59:59.999Z in Unix ms.
const MAX_RFC3339_MS: u64 = 253_402_300_799_999;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_the_year_9999_format_as_its_last_millisecond() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339_ms(715_225_274_179_200_000),
            "9999-12-31T23:59:59.999Z"
        );
    }

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
