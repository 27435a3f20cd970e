//! Deliveries handed to endpoint actors in commit order.
//!
//! The bus runs each publish's post-commit step when actix polls that
//! publish's future, and actix polls an actor's futures in no fixed order
//! (a finished one is swap-removed). Publishes committed in one group could
//! then reach an endpoint out of ticket order, and the endpoint had to ask
//! the store whether each late one was still queued: a RocksDB read on a
//! delivery thread. Here a publish's deliveries wait for every publish
//! committed before it, so they arrive in ticket order; the bus then sends
//! each endpoint one message for all that became ready together.

use std::collections::BTreeMap;

/// Releases values in the order their sequence numbers were handed out,
/// whatever the order they finish in.
#[derive(Debug)]
pub(crate) struct InOrder<T> {
    /// The next number to hand out.
    next: u64,
    /// The lowest number not yet released.
    due: u64,
    /// Finished, waiting for a lower number; `None`: finished with nothing
    /// to release (its commit failed).
    finished: BTreeMap<u64, Option<T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            due: 0,
            finished: BTreeMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// A number for the next value, in the order they must be released.
    /// Every number handed out must be [`Self::finish`]ed, or the ones
    /// after it wait forever.
    pub(crate) fn number(&mut self) -> u64 {
        let n = self.next;
        self.next += 1;
        n
    }

    /// `n` finished with `value` (`None`: nothing to release); returns
    /// what may be released now, in order: nothing while a lower number is
    /// unfinished.
    pub(crate) fn finish(&mut self, n: u64, value: Option<T>) -> Vec<T> {
        self.finished.insert(n, value);
        let mut ready = Vec::new();
        while let Some(v) = self.finished.remove(&self.due) {
            self.due += 1;
            ready.extend(v);
        }
        ready
    }

    /// How many have finished and wait for a lower number.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.finished.len()
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn values_finished_in_order_are_released_at_once() {
        let mut q = InOrder::default();
        let (a, b) = (q.number(), q.number());
        assert_eq!(q.finish(a, Some("a")), vec!["a"]);
        assert_eq!(q.finish(b, Some("b")), vec!["b"]);
        assert_eq!(q.waiting(), 0);
    }

    #[test]
    fn a_value_finished_early_waits_for_the_ones_numbered_before_it() {
        let mut q = InOrder::default();
        let (a, b, c) = (q.number(), q.number(), q.number());
        assert!(q.finish(c, Some("c")).is_empty());
        assert!(q.finish(b, Some("b")).is_empty());
        assert_eq!(q.waiting(), 2);
        assert_eq!(q.finish(a, Some("a")), vec!["a", "b", "c"]);
        assert_eq!(q.waiting(), 0);
    }

    #[test]
    fn a_failed_one_releases_those_after_it_and_nothing_of_its_own() {
        let mut q = InOrder::default();
        let (a, b) = (q.number(), q.number());
        assert!(q.finish(b, Some("b")).is_empty());
        assert_eq!(q.finish(a, None), vec!["b"]);
        let c = q.number();
        assert_eq!(q.finish(c, Some("c")), vec!["c"]);
    }
}
