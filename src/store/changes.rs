//! The store's write interface: a set of row changes, named by what they mean
//! (enqueue a delivery, record an attempt, dead-letter it…), that the store
//! applies atomically.
//!
//! Only this module turns those meanings into keys and column families, so
//! the callers (bus, endpoint actors, retention) never build raw rows, and a
//! second backend has one narrow seam to implement: the methods below plus
//! [`Store::commit`](super::Store::commit) (durable, for publishes),
//! [`Store::record`](super::Store::record) (in order, no fsync of its own,
//! for outcomes) and [`Store::write_now`](super::Store::write_now).

use super::op::Op;
#[cfg(doc)]
use super::records::StoredEvent;
use super::records::{
    AppRecord, AttemptRecord, DeadLetter, DeliveryRecord, EndpointTotals, EventTypeRecord,
    IdempotencyRecord, OutboxEntry, TokenRecord,
};
use super::{Cf, codec, keys};
use crate::model::ReceiptDelivery;

/// Row changes applied together, all or none. Built by the bus and the
/// endpoint actors, written by the store.
#[derive(Debug, Default)]
pub struct Changes {
    pub(super) ops: Vec<Op>,
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many row writes (puts and deletes) there are.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Everything in `other` too, in one batch.
    pub fn extend(&mut self, other: Changes) {
        self.ops.extend(other.ops);
    }

    /// An accepted event with the deliveries it fanned out to. `body` is
    /// the event as delivered ([`Event::body`](crate::event::Event::body)),
    /// encoded once at publish and reused here rather than encoded again;
    /// the row reads back as a [`StoredEvent`].
    pub fn event(
        &mut self,
        id: &str,
        accepted_ms: u64,
        body: &[u8],
        deliveries: &[ReceiptDelivery],
        traceparent: Option<&str>,
        app: &str,
    ) -> &mut Self {
        self.ops.push(Op::Put(
            Cf::EventsByTime,
            keys::event_by_time(accepted_ms, id),
            Vec::new(),
        ));
        // Plain values: serialising them cannot fail.
        let deliveries = serde_json::to_vec(deliveries).unwrap_or_default();
        let trace = traceparent.map(|t| serde_json::to_vec(t).unwrap_or_default());
        let mut row = Vec::with_capacity(body.len() + deliveries.len() + 64);
        row.extend_from_slice(b"{\"event\":");
        row.extend_from_slice(body);
        row.extend_from_slice(b",\"deliveries\":");
        row.extend_from_slice(&deliveries);
        if let Some(t) = trace {
            row.extend_from_slice(b",\"traceparent\":");
            row.extend_from_slice(&t);
        }
        if !crate::model::app::is_default(app) {
            row.extend_from_slice(b",\"app\":");
            row.extend_from_slice(&serde_json::to_vec(app).unwrap_or_default());
        }
        row.push(b'}');
        self.ops
            .push(Op::Put(Cf::Events, id.as_bytes().to_vec(), row));
        self
    }

    /// A new pending delivery: its row, its place in the endpoint's queue
    /// (by `ticket`, so paging keeps publish order) and its history index row.
    pub fn enqueue(&mut self, d: &DeliveryRecord) -> &mut Self {
        self.requeue(d);
        self.index(d)
    }

    /// A delivery that never waits in a queue (a test send, already
    /// attempted): its row and its history index row.
    pub fn finished(&mut self, d: &DeliveryRecord) -> &mut Self {
        self.delivery(d);
        self.index(d)
    }

    fn index(&mut self, d: &DeliveryRecord) -> &mut Self {
        self.ops.push(Op::Put(
            Cf::EndpointDeliveries,
            keys::endpoint_delivery(&d.endpoint_id, &d.id),
            Vec::new(),
        ));
        self
    }

    /// A finished delivery back in its endpoint's queue under its (new)
    /// ticket; its history index row already exists.
    pub fn requeue(&mut self, d: &DeliveryRecord) -> &mut Self {
        self.delivery(d);
        self.ops.push(Op::Put(
            Cf::Queue,
            keys::queue(&d.endpoint_id, d.ticket),
            d.id.clone().into_bytes(),
        ));
        self
    }

    /// The delivery's current state.
    pub fn delivery(&mut self, d: &DeliveryRecord) -> &mut Self {
        self.ops.push(Op::Put(
            Cf::Deliveries,
            d.id.as_bytes().to_vec(),
            codec::delivery(d),
        ));
        self
    }

    /// The delivery leaves its endpoint's queue (finished, or the row outlived it).
    pub fn dequeue(&mut self, endpoint_id: &str, ticket: u128) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::Queue, keys::queue(endpoint_id, ticket)));
        self
    }

    /// One attempt of a delivery, in its history.
    pub fn attempt(&mut self, delivery_id: &str, a: &AttemptRecord) -> &mut Self {
        self.ops.push(Op::Put(
            Cf::Attempts,
            keys::attempt(delivery_id, a.attempt),
            codec::attempt(a),
        ));
        self
    }

    /// The delivery is dead: listed for replay, and in the indexes by
    /// endpoint and by time.
    pub fn dead_letter(&mut self, dl: &DeadLetter) -> &mut Self {
        self.put(Cf::DeadLetters, dl.delivery_id.as_bytes(), dl);
        self.ops.push(Op::Put(
            Cf::DeadByEndpoint,
            keys::dead_by_endpoint(&dl.endpoint_id, &dl.delivery_id),
            dl.dead_at.to_be_bytes().to_vec(),
        ));
        self.ops.push(Op::Put(
            Cf::DeadByTime,
            keys::dead_by_time(dl.dead_at, &dl.delivery_id),
            dl.endpoint_id.as_bytes().to_vec(),
        ));
        self
    }

    /// The delivery is no longer listed as dead (replayed or purged).
    pub fn forget_dead_letter(&mut self, dl: &DeadLetter) -> &mut Self {
        self.ops.push(Op::Delete(
            Cf::DeadLetters,
            dl.delivery_id.as_bytes().to_vec(),
        ));
        self.ops.push(Op::Delete(
            Cf::DeadByEndpoint,
            keys::dead_by_endpoint(&dl.endpoint_id, &dl.delivery_id),
        ));
        self.ops.push(Op::Delete(
            Cf::DeadByTime,
            keys::dead_by_time(dl.dead_at, &dl.delivery_id),
        ));
        self
    }

    /// The receipt a publish with idempotency `key` answered.
    pub fn idempotency(&mut self, key: &str, rec: &IdempotencyRecord) -> &mut Self {
        self.put(Cf::Idempotency, key.as_bytes(), rec)
    }

    /// The endpoint record and its totals go (its deliveries' rows stay, for history).
    pub fn delete_endpoint(&mut self, id: &str) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::Endpoints, id.as_bytes().to_vec()));
        self.ops
            .push(Op::Delete(Cf::EndpointTotals, id.as_bytes().to_vec()));
        self
    }

    /// An application, created or changed.
    pub fn app(&mut self, rec: &AppRecord) -> &mut Self {
        self.put(Cf::Apps, rec.id.as_bytes(), rec)
    }

    /// The application's row goes (its endpoints are deleted by the bus first).
    pub fn forget_app(&mut self, id: &str) -> &mut Self {
        self.ops.push(Op::Delete(Cf::Apps, id.as_bytes().to_vec()));
        self
    }

    /// An application-scoped token (its hash).
    pub fn token(&mut self, rec: &TokenRecord) -> &mut Self {
        self.put(Cf::Tokens, rec.id.as_bytes(), rec)
    }

    /// A revoked token.
    pub fn forget_token(&mut self, id: &str) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::Tokens, id.as_bytes().to_vec()));
        self
    }

    /// A catalogued event type, created or changed.
    pub fn event_type(&mut self, rec: &EventTypeRecord) -> &mut Self {
        self.put(Cf::EventTypes, rec.spec.name.as_bytes(), rec)
    }

    /// An event type leaves the catalogue.
    pub fn forget_event_type(&mut self, name: &str) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::EventTypes, name.as_bytes().to_vec()));
        self
    }

    /// An operational event to publish, kept until its publish commits.
    pub fn outbox(&mut self, entry: &OutboxEntry) -> &mut Self {
        self.put(Cf::Outbox, entry.id().as_bytes(), entry)
    }

    /// The operational event is published (in the same batch as its publish).
    pub fn forget_outbox(&mut self, id: &str) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::Outbox, id.as_bytes().to_vec()));
        self
    }

    /// The endpoint's totals as they are after this batch's outcome.
    pub fn totals(&mut self, endpoint_id: &str, totals: &EndpointTotals) -> &mut Self {
        self.put(Cf::EndpointTotals, endpoint_id.as_bytes(), totals)
    }

    /// A finished delivery and everything about it (retention): its attempts,
    /// index row, dead letter (`dead`, if it has one) and the row itself.
    pub fn forget_delivery(&mut self, d: &DeliveryRecord, dead: Option<&DeadLetter>) -> &mut Self {
        for n in 1..=d.attempts {
            self.ops
                .push(Op::Delete(Cf::Attempts, keys::attempt(&d.id, n)));
        }
        self.ops.push(Op::Delete(
            Cf::EndpointDeliveries,
            keys::endpoint_delivery(&d.endpoint_id, &d.id),
        ));
        if let Some(dl) = dead {
            self.forget_dead_letter(dl);
        }
        self.ops
            .push(Op::Delete(Cf::Deliveries, d.id.as_bytes().to_vec()));
        self
    }

    /// The event row and its time index (retention, once its deliveries are forgotten).
    pub fn forget_event(&mut self, id: &str, accepted_ms: u64) -> &mut Self {
        self.ops
            .push(Op::Delete(Cf::Events, id.as_bytes().to_vec()));
        self.ops.push(Op::Delete(
            Cf::EventsByTime,
            keys::event_by_time(accepted_ms, id),
        ));
        self
    }

    pub(super) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    fn put<T: serde::Serialize>(
        &mut self,
        cf: Cf,
        key: impl Into<Vec<u8>>,
        value: &T,
    ) -> &mut Self {
        self.ops.push(Op::put_json(cf, key, value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::DeliveryStatus;

    fn pending(id: &str, ticket: u128) -> DeliveryRecord {
        DeliveryRecord {
            id: id.into(),
            event_id: "evt_1".into(),
            endpoint_id: "ep_1".into(),
            app: crate::model::app::default_id(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: 1,
            updated_at: 1,
            next_attempt_at: None,
            last_delay_ms: None,
            last_error: None,
            ticket,
            budget_start: 0,
            queued_at: 1,
            test: false,
        }
    }

    fn families(c: &Changes) -> Vec<(Cf, bool)> {
        c.ops
            .iter()
            .map(|op| match op {
                Op::Put(cf, ..) => (*cf, true),
                Op::Delete(cf, _) => (*cf, false),
            })
            .collect()
    }

    #[test]
    fn enqueue_writes_the_delivery_its_queue_row_and_its_history_index() {
        let mut c = Changes::new();
        c.enqueue(&pending("dlv_1", 7));
        assert_eq!(
            families(&c),
            [
                (Cf::Deliveries, true),
                (Cf::Queue, true),
                (Cf::EndpointDeliveries, true)
            ]
        );
        let Op::Put(_, key, value) = &c.ops[1] else {
            unreachable!()
        };
        assert_eq!(key, &keys::queue("ep_1", 7));
        assert_eq!(value, b"dlv_1");
    }

    #[test]
    fn an_event_row_encoded_from_its_body_reads_back_as_the_stored_event() {
        use crate::event::{Event, PublishRequest};
        use crate::store::records::StoredEvent;
        let event = Event::accept(PublishRequest::new(
            "order.created",
            serde_json::json!({"id": 1, "note": "a \"quoted\" word"}),
        ));
        let deliveries = vec![ReceiptDelivery {
            id: "dlv_1".into(),
            endpoint_id: "ep_1".into(),
        }];
        for trace in [
            None,
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ] {
            let mut c = Changes::new();
            c.event(
                &event.id,
                1,
                &event.body(),
                &deliveries,
                trace,
                "app_default",
            );
            let Op::Put(Cf::Events, key, row) = &c.ops[1] else {
                unreachable!()
            };
            assert_eq!(key, event.id.as_bytes());
            let back: StoredEvent = serde_json::from_slice(row).unwrap();
            let want = StoredEvent {
                event: event.clone(),
                deliveries: deliveries.clone(),
                traceparent: trace.map(String::from),
                app: crate::model::app::default_id(),
            };
            assert_eq!(back, want);
            // Byte for byte what encoding the whole record would write.
            assert_eq!(row, &serde_json::to_vec(&want).unwrap());
            // What a paged delivery reads: the body it was published with.
            let send = crate::store::records::EventToSend::from_row(row).unwrap();
            assert_eq!(send.body, event.body());
            assert_eq!(
                (
                    send.id.as_str(),
                    send.event_type.as_str(),
                    send.timestamp.as_str()
                ),
                (event.id.as_str(), "order.created", event.timestamp.as_str())
            );
            assert_eq!(send.traceparent.as_deref(), trace);
            assert_eq!(send.accepted_ms(), event.accepted_ms());
        }
    }

    #[test]
    fn a_paged_delivery_sends_the_stored_body_text_byte_for_byte() {
        // As a payload kept as text is stored: escapes and number forms as sent.
        let body = br#"{"id":"evt_1","type":"a.b","timestamp":"2026-12-07T10:00:00.123Z","data":{"n":1.50,"s":"\u00e9\n","z":[]},"metadata":{}}"#;
        let mut c = Changes::new();
        c.event("evt_1", 1, body, &[], None, "app_default");
        let Op::Put(Cf::Events, _, row) = &c.ops[1] else {
            unreachable!()
        };
        let send = crate::store::records::EventToSend::from_row(row).unwrap();
        assert_eq!(&send.body[..], &body[..]);
        assert_eq!(send.accepted_ms(), Some(1_796_637_600_123));
    }

    #[test]
    fn forgetting_a_delivery_removes_every_attempt_and_its_dead_letter() {
        let mut d = pending("dlv_1", 7);
        d.attempts = 3;
        let mut c = Changes::new();
        let dl = DeadLetter {
            delivery_id: "dlv_1".into(),
            endpoint_id: "ep_1".into(),
            app: crate::model::app::default_id(),
            event_id: "evt_1".into(),
            reason: "gone".into(),
            attempts: 3,
            dead_at: 5,
        };
        c.forget_delivery(&d, Some(&dl));
        let attempts = families(&c)
            .iter()
            .filter(|f| **f == (Cf::Attempts, false))
            .count();
        assert_eq!(attempts, 3);
        assert!(families(&c).contains(&(Cf::DeadLetters, false)));
        assert!(families(&c).contains(&(Cf::Deliveries, false)));
    }
}
