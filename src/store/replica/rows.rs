//! How a row write becomes a JetStream message and back: pure functions.
//!
//! One subject per row (`<prefix>.r.<column family>.k<base64url key>`) in a
//! stream that keeps one message per subject, so the stream holds each row's
//! latest value and a node that reads it from the start gets the current
//! state, not the history. A delete is a tombstone (header `Hb-Del`) with a
//! TTL, so deleted rows do not stay in the stream for ever.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;

use super::super::Cf;
use super::super::op::Op;

/// Header marking a tombstone (the row was deleted).
pub(crate) const DELETED: &str = "Hb-Del";
/// Header on the last message of a batch: the local cache applies rows
/// only up to such a message, so a reader never sees half a batch. Its
/// value is the writing node's name.
pub(crate) const END: &str = "Hb-End";
/// Header beside [`END`]: how many rows the batch has, so a reader can
/// tell the batch's rows from those of an earlier batch whose END it never
/// saw (see `notes`).
pub(crate) const ROWS: &str = "Hb-Rows";

/// One message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Msg {
    /// Its subject (the row's address).
    pub subject: String,
    /// The row's value (empty for a tombstone).
    pub payload: Bytes,
    /// A tombstone.
    pub deleted: bool,
}

/// The stream's subjects: `<prefix>.r.>`.
pub(crate) fn stream_subjects(prefix: &str) -> String {
    format!("{prefix}.r.>")
}

/// The message that writes `op`.
pub(crate) fn encode(prefix: &str, op: &Op) -> Msg {
    let (cf, key, payload, deleted) = match op {
        Op::Put(cf, k, v) => (*cf, k, Bytes::copy_from_slice(v), false),
        Op::Delete(cf, k) => (*cf, k, Bytes::new(), true),
    };
    Msg {
        subject: format!("{prefix}.r.{}.k{}", cf.name(), B64.encode(key)),
        payload,
        deleted,
    }
}

/// The row write a stored message stands for; `None` for a subject that
/// is not a row of ours (a newer version's family, say: skipped, not fatal).
pub(crate) fn decode(prefix: &str, subject: &str, deleted: bool, payload: &[u8]) -> Option<Op> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix(".r.")?;
    let (family, key) = rest.split_once('.')?;
    let cf = Cf::ALL.into_iter().find(|c| c.name() == family)?;
    let key = B64.decode(key.strip_prefix('k')?).ok()?;
    Some(if deleted {
        Op::Delete(cf, key)
    } else {
        Op::Put(cf, key, payload.to_vec())
    })
}

/// Most messages in one JetStream atomic batch (the server's limit).
pub(crate) const MAX_BATCH: usize = 1000;

/// Split the writes of a group (each unit one caller's atomic change set,
/// in order) into batches of at most `max` messages, keeping every unit
/// that fits whole in one batch. A unit larger than a batch (a publish
/// fanned out to hundreds of endpoints) is split with its `events` rows
/// last: until the final batch lands the event does not exist, so a crash
/// in between leaves delivery rows of an event never acknowledged (the
/// endpoint drops them as stale), never an acknowledged event without them.
pub(crate) fn batches(prefix: &str, units: &[&[Op]], max: usize) -> Vec<Vec<Msg>> {
    let mut out: Vec<Vec<Msg>> = Vec::new();
    let mut current: Vec<Msg> = Vec::new();
    for unit in units.iter().filter(|u| !u.is_empty()) {
        if unit.len() > max {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            let (events, rest): (Vec<&Op>, Vec<&Op>) =
                unit.iter().partition(|op| op_cf(op) == Cf::Events);
            let ordered: Vec<Msg> = rest
                .into_iter()
                .chain(events)
                .map(|op| encode(prefix, op))
                .collect();
            out.extend(ordered.chunks(max).map(<[Msg]>::to_vec));
            continue;
        }
        if current.len() + unit.len() > max {
            out.push(std::mem::take(&mut current));
        }
        current.extend(unit.iter().map(|op| encode(prefix, op)));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn op_cf(op: &Op) -> Cf {
    match op {
        Op::Put(c, _, _) | Op::Delete(c, _) => *c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(cf: Cf, key: &[u8]) -> Op {
        Op::Put(cf, key.to_vec(), b"v".to_vec())
    }

    #[test]
    fn every_row_write_survives_the_trip_through_a_subject() {
        let ops = [
            Op::Put(Cf::Queue, b"ep_1\0\x00\xff\x10".to_vec(), b"dlv".to_vec()),
            Op::Delete(Cf::Queue, b"ep_1\0\x01".to_vec()),
            Op::Put(Cf::EventsByTime, vec![0, 1, 2], Vec::new()),
            Op::Put(
                Cf::Idempotency,
                "key with spaces.and.dots*>".into(),
                b"{}".to_vec(),
            ),
        ];
        for op in ops {
            let m = encode("hb", &op);
            assert!(
                m.subject
                    .split('.')
                    .all(|t| !t.is_empty() && !t.contains(['*', '>', ' '])),
                "{} is a valid subject",
                m.subject
            );
            let back = decode("hb", &m.subject, m.deleted, &m.payload).unwrap();
            assert_eq!(format!("{back:?}"), format!("{op:?}"));
        }
        assert!(decode("hb", "hb.r.no_such_family.kAA", false, b"").is_none());
        assert!(decode("other", "hb.r.queue.kAA", false, b"").is_none());
    }

    #[test]
    fn units_stay_whole_and_an_oversized_unit_writes_its_event_last() {
        let small: Vec<Op> = (0..3u8).map(|i| put(Cf::Deliveries, &[i])).collect();
        let mut big = vec![put(Cf::EventsByTime, b"t"), put(Cf::Events, b"e")];
        big.extend((0..7u8).map(|i| put(Cf::Queue, &[i])));
        let out = batches("hb", &[&small, &small, &big, &small], 5);
        let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
        // 3 | 3 (a second small unit would make 6) | 9 split 5+4 | 3
        assert_eq!(sizes, vec![3, 3, 5, 4, 3]);
        let last_of_big = out[3].last().unwrap();
        assert!(
            last_of_big.subject.starts_with("hb.r.events."),
            "{last_of_big:?}"
        );
        assert!(batches("hb", &[&[], &[]], 5).is_empty());
    }
}
