//! An endpoint's in-memory queue: ready deliveries in order, retries waiting
//! for their time, and the cursor into the durable queue for what did not fit.
//!
//! Memory is bounded by `capacity`. Everything offered is already durable, so
//! an offer beyond capacity is simply dropped and flagged as backlog; it is
//! paged in later from RocksDB in ticket order. Tickets are process-monotonic,
//! so anything dropped sorts after the cursor and a page read finds it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::transform::event_info::EventInfo;

/// One pending delivery held in memory.
#[derive(Debug, Clone)]
pub struct Item {
    /// Delivery id.
    pub delivery_id: String,
    /// Its `queue` row ticket.
    pub ticket: u128,
    /// Event id.
    pub event_id: String,
    /// Attempts already made.
    pub attempts: u32,
    /// Last retry delay (decorrelated jitter).
    pub last_delay: Option<Duration>,
    /// The event, when known (loaded lazily after a page-in).
    pub event: Option<Arc<EventInfo>>,
    /// The transform's output, kept so every retry sends identical bytes.
    pub rendered: Option<Arc<crate::transform::Rendered>>,
    /// Attempts made before the latest replay; `max_attempts` counts from here.
    pub budget_start: u32,
    /// When it last entered the queue (publish or replay), Unix ms.
    pub queued_ms: u64,
    /// When the delivery was created, Unix ms: with the fields above, all
    /// the actor needs to write the delivery's row without reading it.
    pub created_ms: u64,
}

impl Item {
    /// The item for an open delivery read from the store (a page read, or a
    /// row another cluster node wrote), with when it is due if it waits for
    /// a retry. Its event is loaded when it is attempted.
    pub fn from_record(
        d: crate::store::records::DeliveryRecord,
        ticket: u128,
        now: Instant,
        now_ms: u64,
    ) -> (Item, Option<Instant>) {
        let due = d
            .next_attempt_at
            .filter(|&t| t > now_ms)
            .map(|t| now + Duration::from_millis(t - now_ms));
        let item = Item {
            rendered: None,
            budget_start: d.budget_start,
            queued_ms: if d.queued_at == 0 {
                d.created_at
            } else {
                d.queued_at
            },
            created_ms: d.created_at,
            delivery_id: d.id,
            ticket,
            event_id: d.event_id,
            attempts: d.attempts,
            last_delay: d.last_delay_ms.map(Duration::from_millis),
            event: None,
        };
        (item, due)
    }
}

/// Bounded in-memory queue with retry scheduling.
#[derive(Debug)]
pub struct Queue {
    ready: VecDeque<Item>,
    waiting: BTreeMap<(Instant, u128), Item>,
    in_flight: usize,
    capacity: usize,
    /// Highest ticket held or seen in memory.
    cursor: Option<u128>,
    /// Rows with tickets above the cursor may wait in the store.
    backlog: bool,
    /// Strict publish order: a failed head returns to the front and blocks the rest.
    fifo: bool,
    /// Tickets held (ready, waiting, in flight): a late offer at or below the
    /// cursor may already have been paged in, and must not be held twice.
    held: HashSet<u128>,
}

impl Queue {
    /// An empty queue that starts by paging in whatever the store holds.
    pub fn new(capacity: usize) -> Self {
        Self {
            ready: VecDeque::new(),
            waiting: BTreeMap::new(),
            in_flight: 0,
            capacity: capacity.max(1),
            cursor: None,
            backlog: true,
            held: HashSet::new(),
            fifo: false,
        }
    }

    /// Switch strict FIFO on or off (`ordering = "fifo"`).
    pub fn set_fifo(&mut self, fifo: bool) {
        self.fifo = fifo;
    }

    fn held(&self) -> usize {
        self.ready.len() + self.waiting.len() + self.in_flight
    }

    /// Deliveries held in memory (ready, waiting, in flight).
    pub fn len(&self) -> usize {
        self.held()
    }

    /// Whether nothing is held in memory.
    pub fn is_empty(&self) -> bool {
        self.held() == 0
    }

    /// Attempts currently in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether a page read may already have covered `ticket` (it is at or
    /// below the cursor); the caller then checks the store before offering.
    pub fn is_paged_range(&self, ticket: u128) -> bool {
        self.cursor.is_some_and(|c| ticket <= c)
    }

    /// Offer a newly committed delivery. Returns false when it was left in
    /// the store (backlog) to be paged in later, or is already held.
    pub fn offer(&mut self, item: Item, due: Option<Instant>) -> bool {
        if self.held.contains(&item.ticket) {
            return false;
        }
        let beyond_cursor = self.cursor.is_none_or(|c| item.ticket > c);
        if self.backlog && beyond_cursor {
            // A page read will find it (ticket > cursor).
            return false;
        }
        if self.held() >= self.capacity && beyond_cursor {
            self.backlog = true;
            return false;
        }
        // Below the cursor a page read would skip it, so keep it even over capacity.
        if beyond_cursor {
            self.cursor = Some(item.ticket);
        }
        self.insert(item, due);
        true
    }

    /// Give a held delivery that was paged in (so without its event) the
    /// event its publish carried — with the publish span, so the attempt is
    /// traced as the publish's child. False if it is not waiting here.
    pub fn attach_event(&mut self, ticket: u128, event: &Arc<EventInfo>) -> bool {
        let held = self
            .ready
            .iter_mut()
            .chain(self.waiting.values_mut())
            .find(|i| i.ticket == ticket);
        match held {
            Some(item) if item.event.is_none() => {
                item.event = Some(event.clone());
                true
            }
            _ => false,
        }
    }

    /// The next `limit` ready deliveries (in the order they will be taken)
    /// still without their event: paged in, their events are read together.
    pub fn needing_events(&mut self, limit: usize) -> Vec<&mut Item> {
        self.ready
            .iter_mut()
            .filter(|i| i.event.is_none())
            .take(limit)
            .collect()
    }

    fn insert(&mut self, item: Item, due: Option<Instant>) {
        if !self.held.insert(item.ticket) {
            return;
        }
        match due {
            Some(at) => {
                self.waiting.insert((at, item.ticket), item);
            }
            None => self.ready.push_back(item),
        }
    }

    /// Whether to read the next page from the store now: there is backlog and room for a page.
    pub fn wants_page(&self) -> Option<(Option<u128>, usize)> {
        let room = self.capacity.saturating_sub(self.held());
        (self.backlog && room >= self.capacity / 2).then_some((self.cursor, room))
    }

    /// Add a page read from the store (tickets above the cursor, ascending);
    /// `exhausted` when the read returned fewer rows than asked.
    pub fn add_page(
        &mut self,
        items: Vec<(Item, Option<Instant>)>,
        last_ticket: Option<u128>,
        exhausted: bool,
    ) {
        for (item, due) in items {
            self.insert(item, due);
        }
        if let Some(t) = last_ticket {
            self.cursor = Some(self.cursor.map_or(t, |c| c.max(t)));
        }
        if exhausted {
            self.backlog = false;
        }
    }

    /// Move retries whose time has come to the back of the ready queue.
    fn promote(&mut self, now: Instant) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let item = entry.remove();
            if self.fifo {
                self.ready.push_front(item);
            } else {
                self.ready.push_back(item);
            }
        }
    }

    /// Whether an attempt could start now (in FIFO mode, not while the head waits for a retry).
    pub fn has_ready(&mut self, now: Instant) -> bool {
        self.promote(now);
        // In FIFO mode nothing overtakes a head that waits for its retry.
        !self.ready.is_empty() && (!self.fifo || self.waiting.is_empty())
    }

    /// Take the next ready delivery and count it in flight.
    pub fn take(&mut self, now: Instant) -> Option<Item> {
        if !self.has_ready(now) {
            return None;
        }
        let item = self.ready.pop_front()?;
        self.in_flight += 1;
        Some(item)
    }

    /// An attempt finished; `retry_at` puts the delivery back for later.
    pub fn finish(&mut self, item: Item, retry_at: Option<Instant>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match retry_at {
            Some(at) => {
                self.waiting.insert((at, item.ticket), item);
            }
            None => {
                self.held.remove(&item.ticket);
            }
        }
    }

    /// An attempt in flight was abandoned (a cluster node stopped driving
    /// the endpoint): its delivery is no longer held here, and is read from
    /// the store again by whoever drives the endpoint next.
    pub fn let_go(&mut self, ticket: u128) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.held.remove(&ticket);
    }

    /// Let go of every delivery held but not in flight and read the store
    /// again from its first row: for a cluster node that stops or starts
    /// driving the endpoint, whose memory may be stale (another node drove
    /// it meanwhile). Attempts in flight stay held until they finish.
    pub fn forget_waiting(&mut self) {
        for item in self.ready.drain(..) {
            self.held.remove(&item.ticket);
        }
        for (_, item) in std::mem::take(&mut self.waiting) {
            self.held.remove(&item.ticket);
        }
        self.cursor = None;
        self.backlog = true;
    }

    /// When the earliest waiting retry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.keys().next().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paged_in_delivery_gets_the_event_its_publish_carried() {
        let mut q = Queue::new(8);
        q.add_page(vec![(item(3), None)], Some(3), true);
        let info = Arc::new(EventInfo::new(
            "evt_3".into(),
            "a.b".into(),
            bytes::Bytes::from_static(b"{}"),
            0,
        ));
        assert!(q.attach_event(3, &info));
        assert!(!q.attach_event(3, &info), "only once");
        assert!(!q.attach_event(9, &info), "not held");
        let taken = q.take(Instant::now()).unwrap();
        assert_eq!(taken.event.unwrap().id, "evt_3");
    }

    #[test]
    fn events_are_read_ahead_for_the_next_ready_deliveries_without_one() {
        let mut q = Queue::new(16);
        let page = (1..=6).map(|t| (item(t), None)).collect();
        q.add_page(page, Some(6), true);
        let info = Arc::new(EventInfo::new(
            "evt_2".into(),
            "a.b".into(),
            bytes::Bytes::from_static(b"{}"),
            0,
        ));
        assert!(q.attach_event(2, &info));
        let first = q.take(Instant::now()).unwrap();
        assert_eq!(first.ticket, 1);
        // In the order they will be taken, skipping the one that has its event.
        let ahead: Vec<u128> = q.needing_events(3).iter().map(|i| i.ticket).collect();
        assert_eq!(ahead, [3, 4, 5]);
        for i in q.needing_events(3) {
            i.event = Some(info.clone());
        }
        let rest: Vec<u128> = q.needing_events(10).iter().map(|i| i.ticket).collect();
        assert_eq!(rest, [6]);
    }

    fn item(ticket: u128) -> Item {
        Item {
            delivery_id: format!("dlv_{ticket}"),
            ticket,
            event_id: "evt".into(),
            attempts: 0,
            last_delay: None,
            event: None,
            rendered: None,
            budget_start: 0,
            queued_ms: 0,
            created_ms: 0,
        }
    }

    fn settled(cap: usize) -> Queue {
        let mut q = Queue::new(cap);
        q.add_page(vec![], None, true);
        q
    }

    #[test]
    fn starts_by_asking_for_a_page() {
        let q = Queue::new(10);
        assert_eq!(q.wants_page(), Some((None, 10)));
    }

    #[test]
    fn keeps_order_and_respects_capacity() {
        let now = Instant::now();
        let mut q = settled(2);
        assert!(q.offer(item(1), None));
        assert!(q.offer(item(2), None));
        assert!(!q.offer(item(3), None), "over capacity stays in the store");
        assert!(!q.offer(item(4), None), "and so does everything after it");
        assert_eq!(q.take(now).unwrap().ticket, 1);
        q.finish(item(1), None);
        assert_eq!(q.wants_page(), Some((Some(2), 1)));
        q.add_page(vec![(item(3), None)], Some(3), false);
        assert_eq!(q.take(now).unwrap().ticket, 2);
        assert_eq!(q.take(now).unwrap().ticket, 3);
    }

    #[test]
    fn late_arrivals_below_the_cursor_are_kept() {
        let mut q = settled(1);
        assert!(q.offer(item(5), None));
        assert!(!q.offer(item(6), None));
        assert!(q.offer(item(4), None), "a page read would skip ticket 4");
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn an_offer_already_paged_in_is_not_held_twice() {
        let now = Instant::now();
        let mut q = Queue::new(10);
        q.add_page(vec![(item(7), None)], Some(7), true);
        assert!(q.is_paged_range(7));
        assert!(!q.offer(item(7), None));
        assert_eq!(q.len(), 1);
        let it = q.take(now).unwrap();
        q.finish(it, Some(now));
        assert!(
            !q.offer(item(7), None),
            "still held while waiting for a retry"
        );
    }

    #[test]
    fn fifo_blocks_behind_a_failed_head_and_retries_it_first() {
        let now = Instant::now();
        let mut q = settled(10);
        q.set_fifo(true);
        for t in 1..=3 {
            q.offer(item(t), None);
        }
        let head = q.take(now).unwrap();
        assert_eq!(head.ticket, 1);
        q.finish(head, Some(now + Duration::from_secs(1)));
        assert!(!q.has_ready(now), "later items wait behind the failed head");
        assert!(q.take(now).is_none());
        let later = now + Duration::from_secs(1);
        assert_eq!(
            q.take(later).unwrap().ticket,
            1,
            "the head goes first when due"
        );
    }

    #[test]
    fn forgetting_keeps_only_what_is_in_flight_and_reads_the_store_again() {
        let mut q = settled(8);
        for t in 1..=3 {
            q.offer(item(t), None);
        }
        let now = Instant::now();
        let flying = q.take(now).unwrap();
        q.forget_waiting();
        assert_eq!((q.len(), q.in_flight()), (1, 1));
        assert_eq!(q.wants_page(), Some((None, 7)));
        // The page read finds the in-flight row again: it is not held twice.
        q.add_page(vec![(item(1), None), (item(2), None)], Some(2), true);
        assert_eq!(q.len(), 2);
        q.finish(flying, None);
        assert_eq!((q.len(), q.in_flight()), (1, 0));
    }

    #[test]
    fn an_abandoned_attempt_is_not_held_and_is_paged_in_again() {
        let mut q = settled(4);
        q.offer(item(1), None);
        let taken = q.take(Instant::now()).unwrap();
        assert_eq!(q.in_flight(), 1);
        q.forget_waiting();
        q.let_go(taken.ticket);
        assert_eq!((q.in_flight(), q.len()), (0, 0));
        assert_eq!(q.wants_page(), Some((None, 4)), "read from the store again");
        // The page read finds it again: no longer held, so it is taken again.
        q.add_page(vec![(item(1), None)], Some(1), true);
        assert!(q.take(Instant::now()).is_some(), "taken again");
    }

    #[test]
    fn retries_wait_until_due() {
        let now = Instant::now();
        let mut q = settled(10);
        q.offer(item(1), None);
        let it = q.take(now).unwrap();
        q.finish(it, Some(now + Duration::from_secs(5)));
        assert!(!q.has_ready(now));
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(5)));
        assert!(q.has_ready(now + Duration::from_secs(5)));
        assert_eq!(q.in_flight(), 0);
    }
}
