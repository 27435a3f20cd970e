//! The `Store`'s typed reads: one row by key, pages by prefix, and the
//! look-ups the API and the actors need. Every read goes to RocksDB (or its
//! cluster-mode cache) directly; none waits for the committer.

use rocksdb::{Direction, IteratorMode};

use super::codec::{self, DecodeError};
use super::db::Row;
use super::op::cf;
use super::records::{
    AppRecord, AttemptRecord, DeadLetter, DeliveryRecord, EndpointRecord, EndpointTotals,
    EventToSend, EventTypeRecord, IdempotencyRecord, OutboxEntry, StoredEvent, TokenRecord,
};
use super::{Cf, Store, StoreError, keys};
use crate::model::PublishReceipt;

/// A stored value decoded by `decode`; one that does not decode is a corrupt `what`.
fn decoded<T>(
    v: &[u8],
    what: &'static str,
    decode: fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, StoreError> {
    decode(v).map_err(|source| StoreError::Corrupt { what, source })
}

impl Store {
    /// One row, decoded by `decode` (`codec::json` for most records).
    pub(super) fn get_row<T>(
        &self,
        c: Cf,
        key: &[u8],
        what: &'static str,
        decode: fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, StoreError> {
        self.db
            .get_pinned_cf(cf(&self.db, c), key)?
            .map(|v| decoded(&v, what, decode))
            .transpose()
    }

    fn exists(&self, c: Cf, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.db.get_pinned_cf(cf(&self.db, c), key)?.is_some())
    }

    /// Whether the endpoint's delivery with `ticket` is still in its queue
    /// (open), i.e. no attempt has finished it since it was paged.
    pub fn is_queued(&self, endpoint_id: &str, ticket: u128) -> Result<bool, StoreError> {
        self.exists(Cf::Queue, &keys::queue(endpoint_id, ticket))
    }

    /// Whether an event with this id was accepted.
    pub fn has_event(&self, id: &str) -> Result<bool, StoreError> {
        self.exists(Cf::Events, id.as_bytes())
    }

    /// Rows of `c` whose key starts with `prefix`, from `start` (inclusive, defaults to the prefix), at most `limit`.
    pub(super) fn scan(
        &self,
        c: Cf,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let from = start.unwrap_or(prefix);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            cf(&self.db, c),
            IteratorMode::From(from, Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Like [`Store::scan`], decoding each value with `decode` (`codec::json` for most records).
    pub(super) fn scan_rows<T>(
        &self,
        c: Cf,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
        what: &'static str,
        decode: fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, StoreError> {
        self.scan(c, prefix, start, limit)?
            .into_iter()
            .map(|(_, v)| decoded(&v, what, decode))
            .collect()
    }

    /// A fingerprint keyed by the master key (for declared endpoint fields,
    /// which may hold credentials).
    pub fn fingerprint(&self, data: &[u8]) -> String {
        self.key.fingerprint(data)
    }

    /// One endpoint.
    pub fn endpoint(&self, id: &str) -> Result<Option<EndpointRecord>, StoreError> {
        let rec: Option<EndpointRecord> =
            self.get_row(Cf::Endpoints, id.as_bytes(), "endpoint", codec::json)?;
        rec.map(|r| self.key.open_record(&r).map_err(StoreError::Secret))
            .transpose()
    }

    /// Every endpoint, by id order.
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        self.scan_rows::<EndpointRecord>(
            Cf::Endpoints,
            b"",
            None,
            usize::MAX,
            "endpoint",
            codec::json,
        )?
        .iter()
        .map(|r| self.key.open_record(r).map_err(StoreError::Secret))
        .collect()
    }

    /// An endpoint's totals since creation (zero for one that has done nothing yet).
    pub fn endpoint_totals(&self, id: &str) -> Result<EndpointTotals, StoreError> {
        Ok(self
            .get_row(
                Cf::EndpointTotals,
                id.as_bytes(),
                "endpoint totals",
                codec::json,
            )?
            .unwrap_or_default())
    }

    /// Every application but the default one (which is implicit), by id.
    pub fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.scan_rows(Cf::Apps, b"", None, usize::MAX, "app", codec::json)
    }

    /// Every application-scoped token (hashes only).
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.scan_rows(Cf::Tokens, b"", None, usize::MAX, "token", codec::json)
    }

    /// The event-type catalogue, by name.
    pub fn event_types(&self) -> Result<Vec<EventTypeRecord>, StoreError> {
        self.scan_rows(
            Cf::EventTypes,
            b"",
            None,
            usize::MAX,
            "event type",
            codec::json,
        )
    }

    /// Operational events written but not yet published, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_rows(
            Cf::Outbox,
            b"",
            None,
            usize::MAX,
            "outbox entry",
            codec::json,
        )
    }

    /// One event with its deliveries.
    pub fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.get_row(Cf::Events, id.as_bytes(), "event", codec::json)
    }

    /// One delivery.
    pub fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.get_row(
            Cf::Deliveries,
            id.as_bytes(),
            "delivery",
            codec::read_delivery,
        )
    }

    /// Several deliveries in one batched lookup (a page of the durable
    /// queue), each answer in the order of `ids`.
    pub fn deliveries<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Result<Option<DeliveryRecord>, StoreError>> {
        self.get_rows(Cf::Deliveries, ids, "delivery", codec::read_delivery)
    }

    /// What an attempt sends of each event (see [`EventToSend`]), in one
    /// batched lookup, each answer in the order of `ids`.
    pub fn events_to_send<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Result<Option<EventToSend>, StoreError>> {
        self.get_rows(Cf::Events, ids, "event", EventToSend::from_row)
    }

    /// [`Self::get_row`] for several keys in one batched lookup (RocksDB's
    /// `MultiGet`: one pass over memtables and shared block reads).
    fn get_rows<'a, T>(
        &self,
        c: Cf,
        keys: impl IntoIterator<Item = &'a str>,
        what: &'static str,
        decode: fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Vec<Result<Option<T>, StoreError>> {
        let found = self.db.batched_multi_get_cf(cf(&self.db, c), keys, false);
        found
            .into_iter()
            .map(|row| row?.map(|v| decoded(&v, what, decode)).transpose())
            .collect()
    }

    /// Every attempt of a delivery, in order.
    pub fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        self.scan_rows(
            Cf::Attempts,
            &keys::prefix(delivery_id),
            None,
            usize::MAX,
            "attempt",
            codec::read_attempt,
        )
    }

    /// One dead letter.
    pub fn dead_letter(&self, delivery_id: &str) -> Result<Option<DeadLetter>, StoreError> {
        self.get_row(
            Cf::DeadLetters,
            delivery_id.as_bytes(),
            "dead letter",
            codec::json,
        )
    }

    /// Up to `limit` dead letters in delivery-id order.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.scan_rows(
            Cf::DeadLetters,
            b"",
            None,
            limit,
            "dead letter",
            codec::json,
        )
    }

    /// The next `limit` queued deliveries of an endpoint with ticket > `after`,
    /// as (ticket, delivery id).
    pub fn queue_page(
        &self,
        endpoint_id: &str,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<(u128, String)>, StoreError> {
        let prefix = keys::prefix(endpoint_id);
        let start = after.map(|t| keys::queue(endpoint_id, t.saturating_add(1)));
        Ok(self
            .scan(Cf::Queue, &prefix, start.as_deref(), limit)?
            .into_iter()
            .filter_map(|(k, v)| Some((keys::queue_ticket(&k)?, String::from_utf8(v).ok()?)))
            .collect())
    }

    /// Number of queued deliveries of an endpoint (a scan; for stats, not hot paths).
    pub fn queue_len(&self, endpoint_id: &str) -> Result<usize, StoreError> {
        Ok(self.queue_count(endpoint_id)?.0)
    }

    /// The rows in an endpoint's queue and the highest ticket among them,
    /// from one consistent scan (an endpoint actor's starting depth).
    pub fn queue_count(&self, endpoint_id: &str) -> Result<(usize, Option<u128>), StoreError> {
        let prefix = keys::prefix(endpoint_id);
        let mut count = 0;
        let mut last = None;
        for item in self.db.iterator_cf(
            cf(&self.db, Cf::Queue),
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            count += 1;
            last = keys::queue_ticket(&k).or(last);
        }
        Ok((count, last))
    }

    /// The receipt of an earlier publish with `key`, if it was within `window_ms`.
    pub fn idempotent(
        &self,
        key: &str,
        window_ms: u64,
    ) -> Result<Option<PublishReceipt>, StoreError> {
        let rec: Option<IdempotencyRecord> =
            self.get_row(Cf::Idempotency, key.as_bytes(), "idempotency", codec::json)?;
        Ok(rec
            .filter(|r| crate::ids::now_ms().saturating_sub(r.at) < window_ms)
            .map(|r| r.receipt))
    }

    /// An endpoint's deliveries in id (creation) order after `after` —
    /// newest first, before `after`, when `newest_first` — keeping those
    /// `keep` accepts, at most `limit`.
    pub fn endpoint_deliveries(
        &self,
        endpoint_id: &str,
        after: Option<&str>,
        newest_first: bool,
        limit: usize,
        keep: impl Fn(&DeliveryRecord) -> bool,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let prefix = keys::prefix(endpoint_id);
        let start = match (after, newest_first) {
            (Some(a), false) => {
                let mut k = keys::endpoint_delivery(endpoint_id, a);
                k.push(0);
                k
            }
            (Some(a), true) => keys::endpoint_delivery(endpoint_id, a),
            (None, false) => prefix.clone(),
            // The first key past every row of this endpoint: ids never hold 0xff.
            (None, true) => {
                let mut k = prefix.clone();
                k.push(0xff);
                k
            }
        };
        let mode = if newest_first {
            IteratorMode::From(&start, Direction::Reverse)
        } else {
            IteratorMode::From(&start, Direction::Forward)
        };
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf(&self.db, Cf::EndpointDeliveries), mode)
        {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            // Reverse seeks land on the cursor row itself (or an earlier one): skip it.
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if newest_first && after.is_some_and(|a| id.as_str() >= a) {
                continue;
            }
            if let Some(d) = self.delivery(&id)? {
                if keep(&d) {
                    out.push(d);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}
