//! Queue depth from one source of truth: the endpoint's rows in the store's
//! queue, each counted exactly once.
//!
//! At start the actor counts the rows in one consistent scan and remembers
//! the highest ticket it saw. Every committed delivery then reaches the actor
//! once as an `Enqueue`; tickets are handed out in commit order, so one at or
//! below the scanned ticket was already counted and one above it is new —
//! whether it is still waiting, already paged in, or even finished by the
//! time the message arrives. Every finished delivery removes its row and
//! subtracts one. The count may dip below zero for a moment (a page read can
//! finish a delivery before its `Enqueue` arrives), so it is signed inside
//! and shown clamped at zero.

/// The endpoint's queue rows, counted once each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Depth {
    rows: i64,
    counted_through: Option<u128>,
}

impl Depth {
    /// What the start-up scan found: `rows` rows, the highest ticket `last`.
    pub fn scanned(rows: usize, last: Option<u128>) -> Self {
        Self {
            rows: i64::try_from(rows).unwrap_or(i64::MAX),
            counted_through: last,
        }
    }

    /// A committed delivery with `ticket` reached the actor.
    pub fn enqueued(&mut self, ticket: u128) {
        if self.counted_through.is_none_or(|t| ticket > t) {
            self.rows += 1;
        }
    }

    /// A delivery left the queue (delivered, dead, filtered, or a stale row dropped).
    pub fn dequeued(&mut self) {
        self.rows -= 1;
    }

    /// Deliveries waiting, in memory and in the store.
    pub fn get(&self) -> usize {
        usize::try_from(self.rows.max(0)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_the_start_scan_saw_is_not_counted_again_when_its_enqueue_arrives() {
        // Committed (ticket 5) before the actor started: the scan counts it,
        // then its Enqueue arrives.
        let mut d = Depth::scanned(1, Some(5));
        d.enqueued(5);
        assert_eq!(d.get(), 1);
        d.enqueued(6);
        assert_eq!(d.get(), 2);
    }

    #[test]
    fn a_delivery_paged_in_and_finished_before_its_enqueue_nets_to_zero() {
        let mut d = Depth::scanned(0, None);
        d.dequeued(); // page read found ticket 1, attempt finished
        d.enqueued(1); // then its Enqueue arrives
        assert_eq!(d.get(), 0);
        d.enqueued(2);
        assert_eq!(d.get(), 1);
    }

    #[test]
    fn every_interleaving_of_enqueue_and_finish_ends_at_the_open_rows() {
        // Tickets 1..=6; 1..=3 committed before the scan. Each delivery's
        // finish may come before or after its Enqueue; all finish except 6.
        for mask in 0u32..64 {
            let mut d = Depth::scanned(3, Some(3));
            for t in 1..=6u128 {
                let finish_first = mask & (1 << (t - 1)) != 0;
                let finishes = t != 6;
                if finish_first && finishes {
                    d.dequeued();
                    d.enqueued(t);
                } else {
                    d.enqueued(t);
                    if finishes {
                        d.dequeued();
                    }
                }
            }
            assert_eq!(d.get(), 1, "mask {mask:b}");
        }
    }
}
