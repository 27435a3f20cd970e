//! Row values of the two records written for every delivery — its state
//! ([`DeliveryRecord`], twice: when it is queued and when it finishes) and
//! each attempt ([`AttemptRecord`]) — in a compact, versioned binary form;
//! every other record stays JSON.
//!
//! Why: those rows are most of what a delivery adds to the write-ahead log
//! and the memtables besides its event, so their size sets how often
//! RocksDB switches memtables and flushes (the latency tail follows the
//! flushes), and encoding them as JSON was a measurable share of the
//! delivery threads' CPU (docs/BENCHMARKS.md has the before and after).
//!
//! Format: a version byte, then the fields in declaration order. Integers
//! are LEB128 varints, strings a varint length and UTF-8 bytes, optional
//! fields are present when their bit is set in a flags byte. Version 1 is
//! [`V1`]. A row whose first byte is `{` is the JSON an earlier version
//! wrote, and still reads, so a store needs no migration; an unknown
//! version is reported, never guessed at.

use serde::de::DeserializeOwned;

use super::records::{AttemptRecord, DeliveryRecord, DeliveryStatus};
use crate::model::app;

/// The first byte of a version-1 binary row (JSON rows start with `{`).
pub(super) const V1: u8 = 1;

/// Why a stored value could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A JSON row did not parse as its record.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A binary row was cut short, held a bad value, or has a version this
    /// build does not know.
    #[error("{0}")]
    Binary(&'static str),
}

/// A JSON-encoded record (every row but the two hot ones, and those rows
/// as earlier versions wrote them).
pub(super) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    Ok(serde_json::from_slice(bytes)?)
}

// Flag bits of a delivery row.
const NEXT_ATTEMPT_AT: u8 = 1;
const LAST_DELAY: u8 = 1 << 1;
const LAST_ERROR: u8 = 1 << 2;
const TEST: u8 = 1 << 3;
const OTHER_APP: u8 = 1 << 4;

/// A delivery's state as a row value.
pub(super) fn delivery(d: &DeliveryRecord) -> Vec<u8> {
    let mut flags = 0;
    let other_app = !app::is_default(&d.app);
    for (set, bit) in [
        (d.next_attempt_at.is_some(), NEXT_ATTEMPT_AT),
        (d.last_delay_ms.is_some(), LAST_DELAY),
        (d.last_error.is_some(), LAST_ERROR),
        (d.test, TEST),
        (other_app, OTHER_APP),
    ] {
        if set {
            flags |= bit;
        }
    }
    let mut w = Writer(Vec::with_capacity(
        112 + d.last_error.as_ref().map_or(0, String::len),
    ));
    w.0.extend_from_slice(&[V1, flags, status_code(d.status)]);
    w.str(&d.id);
    w.str(&d.event_id);
    w.str(&d.endpoint_id);
    if other_app {
        w.str(&d.app);
    }
    w.uint(d.attempts.into());
    w.uint(d.created_at);
    w.uint(d.updated_at);
    for v in [d.next_attempt_at, d.last_delay_ms].into_iter().flatten() {
        w.uint(v);
    }
    if let Some(e) = &d.last_error {
        w.str(e);
    }
    w.0.extend_from_slice(&d.ticket.to_be_bytes());
    w.uint(d.budget_start.into());
    w.uint(d.queued_at);
    w.0
}

/// A delivery row, binary or as earlier versions wrote it.
pub(super) fn read_delivery(bytes: &[u8]) -> Result<DeliveryRecord, DecodeError> {
    read(bytes, |r, flags| {
        let status = status_from(r.byte()?)?;
        let id = r.string()?;
        let event_id = r.string()?;
        let endpoint_id = r.string()?;
        let app = if flags & OTHER_APP != 0 {
            r.string()?
        } else {
            app::default_id()
        };
        Ok(DeliveryRecord {
            id,
            event_id,
            endpoint_id,
            app,
            status,
            attempts: r.u32()?,
            created_at: r.uint()?,
            updated_at: r.uint()?,
            next_attempt_at: r.opt(flags & NEXT_ATTEMPT_AT != 0, Reader::uint)?,
            last_delay_ms: r.opt(flags & LAST_DELAY != 0, Reader::uint)?,
            last_error: r.opt(flags & LAST_ERROR != 0, Reader::string)?,
            ticket: u128::from_be_bytes(r.array()?),
            budget_start: r.u32()?,
            queued_at: r.uint()?,
            test: flags & TEST != 0,
        })
    })
}

fn status_code(s: DeliveryStatus) -> u8 {
    match s {
        DeliveryStatus::Pending => 0,
        DeliveryStatus::Failed => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Dead => 3,
        DeliveryStatus::Filtered => 4,
    }
}

fn status_from(b: u8) -> Result<DeliveryStatus, DecodeError> {
    Ok(match b {
        0 => DeliveryStatus::Pending,
        1 => DeliveryStatus::Failed,
        2 => DeliveryStatus::Delivered,
        3 => DeliveryStatus::Dead,
        4 => DeliveryStatus::Filtered,
        _ => return Err(DecodeError::Binary("unknown delivery status")),
    })
}

// Flag bits of an attempt row.
const STATUS_CODE: u8 = 1;
const ERROR: u8 = 1 << 1;

/// One attempt as a row value.
pub(super) fn attempt(a: &AttemptRecord) -> Vec<u8> {
    let mut flags = 0;
    if a.status_code.is_some() {
        flags |= STATUS_CODE;
    }
    if a.error.is_some() {
        flags |= ERROR;
    }
    let extra = a.response_body.len() + a.error.as_ref().map_or(0, String::len);
    let mut w = Writer(Vec::with_capacity(40 + extra));
    w.0.extend_from_slice(&[V1, flags]);
    w.uint(a.attempt.into());
    w.uint(a.at);
    if let Some(code) = a.status_code {
        w.0.extend_from_slice(&code.to_be_bytes());
    }
    w.0.extend_from_slice(&a.latency_ms.to_le_bytes());
    if let Some(e) = &a.error {
        w.str(e);
    }
    w.str(&a.response_body);
    w.str(&a.result);
    w.0
}

/// An attempt row, binary or as earlier versions wrote it.
pub(super) fn read_attempt(bytes: &[u8]) -> Result<AttemptRecord, DecodeError> {
    read(bytes, |r, flags| {
        Ok(AttemptRecord {
            attempt: r.u32()?,
            at: r.uint()?,
            status_code: r.opt(flags & STATUS_CODE != 0, |r| {
                Ok(u16::from_be_bytes(r.array()?))
            })?,
            latency_ms: f64::from_le_bytes(r.array()?),
            error: r.opt(flags & ERROR != 0, Reader::string)?,
            response_body: r.string()?,
            result: r.string()?,
        })
    })
}

/// A row of either record: JSON as an earlier version wrote it, or binary,
/// whose fields `fields` reads after the flags byte; a binary row must end
/// where its last field does.
fn read<T: DeserializeOwned>(
    bytes: &[u8],
    fields: impl FnOnce(&mut Reader<'_>, u8) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let Some(mut r) = Reader::open(bytes)? else {
        return json(bytes);
    };
    let flags = r.byte()?;
    let record = fields(&mut r, flags)?;
    r.end()?;
    Ok(record)
}

struct Writer(Vec<u8>);

impl Writer {
    /// LEB128: seven bits a byte, low first; small numbers take one byte.
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader past the version byte of a binary row; `None` for a JSON row.
    fn open(bytes: &'a [u8]) -> Result<Option<Self>, DecodeError> {
        match bytes.first() {
            Some(b'{') => Ok(None),
            Some(&V1) => Ok(Some(Reader(&bytes[1..]))),
            Some(_) => Err(DecodeError::Binary("unknown row version")),
            None => Err(DecodeError::Binary("empty row")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Binary("row cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Binary("integer out of range"))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.uint()?).map_err(|_| DecodeError::Binary("integer out of range"))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = usize::try_from(self.uint()?)
            .map_err(|_| DecodeError::Binary("string longer than the row"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Binary("string not UTF-8"))
    }

    fn opt<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        present.then(|| read(self)).transpose()
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Binary("bytes left after the last field"))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn statuses() -> impl Strategy<Value = DeliveryStatus> {
        prop_oneof![
            Just(DeliveryStatus::Pending),
            Just(DeliveryStatus::Failed),
            Just(DeliveryStatus::Delivered),
            Just(DeliveryStatus::Dead),
            Just(DeliveryStatus::Filtered),
        ]
    }

    prop_compose! {
        fn deliveries()(
            ids in ("dlv_[0-9A-Z]{0,26}", "\\PC{0,30}", "ep_\\PC{0,10}"),
            app in prop_oneof![Just(app::default_id()), "app_[0-9A-Z]{1,26}"],
            status in statuses(),
            counts in (any::<u32>(), any::<u32>()),
            times in (any::<u64>(), any::<u64>(), any::<u64>()),
            options in (any::<Option<u64>>(), any::<Option<u64>>(), proptest::option::of("\\PC{0,80}")),
            ticket in any::<u128>(),
            test in any::<bool>(),
        ) -> DeliveryRecord {
            DeliveryRecord {
                id: ids.0, event_id: ids.1, endpoint_id: ids.2, app, status,
                attempts: counts.0, budget_start: counts.1,
                created_at: times.0, updated_at: times.1, queued_at: times.2,
                next_attempt_at: options.0, last_delay_ms: options.1, last_error: options.2,
                ticket, test,
            }
        }
    }

    prop_compose! {
        fn attempts()(
            attempt in any::<u32>(),
            at in any::<u64>(),
            status_code in any::<Option<u16>>(),
            latency_ms in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            error in proptest::option::of("\\PC{0,80}"),
            response_body in "\\PC{0,200}",
            result in "[0-9a-z_]{0,16}",
        ) -> AttemptRecord {
            AttemptRecord { attempt, at, status_code, latency_ms, error, response_body, result }
        }
    }

    proptest! {
        #[test]
        fn a_delivery_row_reads_back_as_written(d in deliveries()) {
            prop_assert_eq!(read_delivery(&delivery(&d)).unwrap(), d.clone());
            // Rows written as JSON by earlier versions read the same.
            prop_assert_eq!(read_delivery(&serde_json::to_vec(&d).unwrap()).unwrap(), d);
        }

        #[test]
        fn an_attempt_row_reads_back_as_written(a in attempts()) {
            prop_assert_eq!(read_attempt(&attempt(&a)).unwrap(), a.clone());
            prop_assert_eq!(read_attempt(&serde_json::to_vec(&a).unwrap()).unwrap(), a);
        }

        #[test]
        fn a_cut_or_padded_row_is_an_error_not_a_panic_or_a_wrong_record(
            d in deliveries(), a in attempts(), junk in any::<u8>(),
        ) {
            let (d_row, a_row) = (delivery(&d), attempt(&a));
            for cut in 0..d_row.len() {
                prop_assert!(read_delivery(&d_row[..cut]).is_err());
            }
            for cut in 0..a_row.len() {
                prop_assert!(read_attempt(&a_row[..cut]).is_err());
            }
            prop_assert!(read_delivery(&[d_row, vec![junk]].concat()).is_err());
            prop_assert!(read_attempt(&[a_row, vec![junk]].concat()).is_err());
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_delivery(&bytes);
            let _ = read_attempt(&bytes);
        }
    }

    #[test]
    fn a_row_of_an_unknown_version_is_refused() {
        let mut row = attempt(&AttemptRecord {
            attempt: 1,
            at: 1,
            status_code: Some(200),
            latency_ms: 1.5,
            error: None,
            response_body: String::new(),
            result: "2xx".into(),
        });
        row[0] = V1 + 1;
        let e = read_attempt(&row).unwrap_err();
        assert_eq!(e.to_string(), "unknown row version");
    }

    #[test]
    fn a_typical_delivery_writes_well_under_half_the_bytes_of_its_json() {
        let d = DeliveryRecord {
            id: "dlv_01KBXG3S0Q4M2T5V8W9X0Y1Z2A".into(),
            event_id: "evt_01KBXG3S0Q4M2T5V8W9X0Y1Z2B".into(),
            endpoint_id: "ep_01KBXG3S0Q4M2T5V8W9X0Y1Z2C".into(),
            app: app::default_id(),
            status: DeliveryStatus::Delivered,
            attempts: 1,
            created_at: 1_796_648_154_176,
            updated_at: 1_796_648_154_177,
            next_attempt_at: None,
            last_delay_ms: None,
            last_error: None,
            ticket: u128::MAX / 3,
            budget_start: 0,
            queued_at: 1_796_648_154_176,
            test: false,
        };
        let a = AttemptRecord {
            attempt: 1,
            at: 1_796_648_154_176,
            status_code: Some(200),
            latency_ms: 0.731,
            error: None,
            response_body: String::new(),
            result: "2xx".into(),
        };
        let (binary, json) = (delivery(&d).len(), serde_json::to_vec(&d).unwrap().len());
        assert!(binary * 2 < json, "delivery: {binary} vs {json} bytes");
        let (binary, json) = (attempt(&a).len(), serde_json::to_vec(&a).unwrap().len());
        assert!(binary * 3 < json, "attempt: {binary} vs {json} bytes");
    }
}
