//! What the applier tells the bus, and whose rows those are.
//!
//! A batch's rows sit one after another in the stream; its last row carries
//! `Hb-End` (the writing node) and `Hb-Rows` (how many rows the batch has).
//! A node's own batches need no notice: its bus acted on them when it wrote
//! them. But the stream keeps one message per row, so a later write of the
//! same row removes an earlier batch's END before a lagging reader gets to
//! it; that batch's rows are then read in front of the next batch. They are
//! another node's as likely as not (an endpoint deleted elsewhere, say), so
//! they are noticed even when the END that follows is this node's own.

use super::super::op::Op;
use super::super::{Cf, keys};

/// What other nodes wrote that this node must act on, once it is in the
/// cache: the in-memory state built from rows (subscription trie, endpoint
/// actors' queues, the directory) follows the stream through it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// New queue rows: endpoint id, ticket, delivery id.
    pub queued: Vec<(String, u128, String)>,
    /// Endpoints whose row was written or deleted.
    pub endpoints: Vec<String>,
    /// Applications, tokens or event types changed.
    pub directory: bool,
}

impl Applied {
    /// Nothing to act on.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.endpoints.is_empty() && !self.directory
    }

    fn add(&mut self, note: Note) {
        match note {
            Note::Queued(ep, ticket, dlv) => self.queued.push((ep, ticket, dlv)),
            Note::Endpoint(id) => self.endpoints.push(id),
            Note::Directory => self.directory = true,
        }
    }

    /// Add `other`'s notices to these.
    pub(super) fn merge(&mut self, other: Applied) {
        self.queued.extend(other.queued);
        self.endpoints.extend(other.endpoints);
        self.directory |= other.directory;
    }
}

/// What one row asks of the bus.
#[derive(Debug)]
enum Note {
    Queued(String, u128, String),
    Endpoint(String),
    Directory,
}

impl Note {
    /// What `op` asks of the bus, if anything.
    fn of(op: &Op) -> Option<Self> {
        match op {
            Op::Put(Cf::Queue, k, v) => {
                let (ep, ticket) = keys::split_queue(k)?;
                let dlv = std::str::from_utf8(v).ok()?;
                Some(Note::Queued(ep.to_string(), ticket, dlv.to_string()))
            }
            Op::Put(Cf::Endpoints, k, _) | Op::Delete(Cf::Endpoints, k) => {
                Some(Note::Endpoint(String::from_utf8_lossy(k).into_owned()))
            }
            Op::Put(Cf::Apps | Cf::Tokens | Cf::EventTypes, _, _)
            | Op::Delete(Cf::Apps | Cf::Tokens | Cf::EventTypes, _) => Some(Note::Directory),
            _ => None,
        }
    }
}

/// Notices of the rows read since the last END, with their stream sequences.
#[derive(Debug, Default)]
pub(super) struct Unended(Vec<(u64, Note)>);

impl Unended {
    /// Remember what the row at stream sequence `seq` asks of the bus.
    pub(super) fn note(&mut self, seq: u64, op: &Op) {
        if let Some(n) = Note::of(op) {
            self.0.push((seq, n));
        }
    }

    /// Every notice, whoever wrote the rows (rows applied without an END).
    pub(super) fn take_all(&mut self) -> Applied {
        let mut all = Applied::default();
        for (_, n) in self.0.drain(..) {
            all.add(n);
        }
        all
    }

    /// The notices to send at a batch's END row (stream sequence
    /// `end_seq`, written by `origin`, `rows` long): the batch's own only
    /// if another node wrote it, and always those of rows before the batch
    /// (an earlier batch whose END was overwritten). Without `rows` (a
    /// writer that did not say) nothing can be told apart, so everything
    /// is noticed: acting twice on a row is harmless, missing one is not.
    pub(super) fn end(
        &mut self,
        end_seq: u64,
        rows: Option<u64>,
        origin: &str,
        node: &str,
    ) -> Applied {
        if origin != node {
            return self.take_all();
        }
        let Some(rows) = rows else {
            return self.take_all();
        };
        let first = end_seq.saturating_sub(rows.saturating_sub(1));
        let mut before = Applied::default();
        for (seq, n) in self.0.drain(..) {
            if seq < first {
                before.add(n);
            }
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_deleted(id: &str) -> Op {
        Op::Delete(Cf::Endpoints, id.as_bytes().to_vec())
    }

    fn endpoint_written(id: &str) -> Op {
        Op::Put(Cf::Endpoints, id.as_bytes().to_vec(), b"{}".to_vec())
    }

    #[test]
    fn another_nodes_batch_is_noticed_whole() {
        let mut u = Unended::default();
        u.note(10, &endpoint_written("e1"));
        u.note(11, &endpoint_deleted("e2"));
        let sent = u.end(11, Some(2), "b", "a");
        assert_eq!(sent.endpoints, ["e1", "e2"]);
        assert!(u.take_all().is_empty());
    }

    #[test]
    fn this_nodes_own_batch_needs_no_notice() {
        let mut u = Unended::default();
        u.note(20, &endpoint_written("e1"));
        u.note(22, &endpoint_written("e1"));
        assert!(u.end(22, Some(3), "a", "a").is_empty());
        assert!(u.take_all().is_empty());
    }

    #[test]
    fn rows_of_a_batch_whose_end_was_overwritten_are_noticed_before_an_own_batch() {
        // b deleted e2 at 5..=7; its END (7) was overwritten by a's batch
        // 8..=9 before this node read it.
        let mut u = Unended::default();
        u.note(5, &endpoint_deleted("e2"));
        u.note(8, &endpoint_written("e1"));
        let sent = u.end(9, Some(2), "a", "a");
        assert_eq!(sent.endpoints, ["e2"]);
        assert!(
            u.take_all().is_empty(),
            "the own batch's notices are dropped"
        );
    }

    #[test]
    fn an_own_end_without_a_row_count_notices_everything() {
        let mut u = Unended::default();
        u.note(5, &endpoint_deleted("e2"));
        u.note(8, &endpoint_written("e1"));
        assert_eq!(u.end(9, None, "a", "a").endpoints, ["e2", "e1"]);
    }

    #[test]
    fn rows_that_ask_nothing_are_not_kept() {
        let mut u = Unended::default();
        u.note(1, &Op::Put(Cf::Events, b"ev".to_vec(), b"{}".to_vec()));
        assert!(u.0.is_empty());
    }
}
