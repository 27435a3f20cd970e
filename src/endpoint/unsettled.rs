//! Finished deliveries whose queue-row removal has been handed to the
//! committer but may not be written yet.
//!
//! Until it is, the store still lists the row as queued: a page read (or a
//! late `Enqueue` for a ticket a page read already took) would take the
//! delivery again and send it twice. The actor checks here first. Writes are
//! numbered in the committer's order ([`Written`]), so one "written up to"
//! figure settles every entry at or below it, and entries leave in order.
//! An outcome still buffered in the actor (not handed over yet) is held too.

use std::collections::{HashSet, VecDeque};

use crate::store::Written;

/// Tickets finished here, each with the write that removes its queue row.
#[derive(Debug, Default)]
pub struct Unsettled {
    order: VecDeque<(Written, u128)>,
    /// Finished, in the actor's outcome buffer: no write number yet.
    buffered: Vec<u128>,
    tickets: HashSet<u128>,
}

impl Unsettled {
    /// `ticket` finished; its outcome waits in the actor's buffer.
    pub fn buffer(&mut self, ticket: u128) {
        self.buffered.push(ticket);
        self.tickets.insert(ticket);
    }

    /// The buffer went to the committer as write `w`.
    pub fn handed_over(&mut self, w: Written) {
        for t in self.buffered.drain(..) {
            self.order.push_back((w, t));
        }
    }

    /// Forget every entry whose write `is_written` says is done.
    pub fn settle(&mut self, is_written: impl Fn(Written) -> bool) {
        while let Some(&(w, ticket)) = self.order.front() {
            if !is_written(w) {
                break;
            }
            self.order.pop_front();
            self.tickets.remove(&ticket);
        }
    }

    /// Is `ticket` finished here with its row still possibly in the store?
    /// (Call [`Self::settle`] first for an answer that is not stale.)
    pub fn holds(&self, ticket: u128) -> bool {
        self.tickets.contains(&ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_held_until_the_write_removing_its_row_is_written() {
        let mut u = Unsettled::default();
        u.buffer(30);
        u.buffer(40);
        u.handed_over(Written(3));
        u.buffer(90);
        u.handed_over(Written(9));
        u.settle(|w| w.0 <= 2);
        assert!(u.holds(30) && u.holds(40) && u.holds(90));
        u.settle(|w| w.0 <= 4);
        assert!(!u.holds(30) && !u.holds(40));
        assert!(u.holds(90));
        u.settle(|w| w.0 <= 9);
        assert!(!u.holds(90));
    }

    #[test]
    fn a_buffered_ticket_is_held_until_its_write_is_handed_over_and_written() {
        let mut u = Unsettled::default();
        u.buffer(7);
        u.settle(|_| true);
        assert!(u.holds(7), "no write yet: nothing can have written it");
        u.handed_over(Written(12));
        u.settle(|w| w.0 <= 11);
        assert!(u.holds(7));
        u.settle(|w| w.0 <= 12);
        assert!(!u.holds(7));
    }

    #[test]
    fn entries_leave_in_write_order_only() {
        // A later write cannot be done before an earlier one: the committer
        // writes in order, so settling stops at the first one not written.
        let mut u = Unsettled::default();
        u.buffer(1);
        u.handed_over(Written(5));
        u.buffer(2);
        u.handed_over(Written(6));
        u.settle(|w| w.0 == 6);
        assert!(u.holds(1) && u.holds(2));
    }
}
