//! Finished deliveries whose queue-row removal has been handed to the
//! committer but may not be written yet.
//!
//! Until it is, the store still lists the row as queued: a page read (or a
//! late `Enqueue` for a ticket a page read already took) would take the
//! delivery again and send it twice. The actor checks here first. Writes are
//! numbered in the committer's order ([`Written`]), so one "written up to"
//! figure settles every entry at or below it, and entries leave in order.

use std::collections::{HashSet, VecDeque};

use crate::store::Written;

/// Tickets finished here, each with the write that removes its queue row.
#[derive(Debug, Default)]
pub struct Unsettled {
    order: VecDeque<(Written, u128)>,
    tickets: HashSet<u128>,
}

impl Unsettled {
    /// `ticket`'s row goes with write `w` (writes are added in their order).
    pub fn add(&mut self, w: Written, ticket: u128) {
        self.order.push_back((w, ticket));
        self.tickets.insert(ticket);
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

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No entry waiting.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_held_until_the_write_removing_its_row_is_written() {
        let mut u = Unsettled::default();
        u.add(Written(3), 30);
        u.add(Written(4), 40);
        u.add(Written(9), 90);
        u.settle(|w| w.0 <= 2);
        assert!(u.holds(30) && u.holds(40) && u.holds(90));
        u.settle(|w| w.0 <= 4);
        assert!(!u.holds(30) && !u.holds(40));
        assert!(u.holds(90));
        assert_eq!(u.len(), 1);
        u.settle(|w| w.0 <= 9);
        assert!(u.is_empty() && !u.holds(90));
    }

    #[test]
    fn entries_leave_in_write_order_only() {
        // A later write cannot be done before an earlier one: the committer
        // writes in order, so settling stops at the first one not written.
        let mut u = Unsettled::default();
        u.add(Written(5), 1);
        u.add(Written(6), 2);
        u.settle(|w| w.0 == 6);
        assert!(u.holds(1) && u.holds(2));
    }
}
