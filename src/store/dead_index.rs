//! Dead-letter queries through the indexes: one endpoint's page reads that
//! page (`dead_by_endpoint`), a time range reads what died in it
//! (`dead_by_time`), so neither costs the total number of dead letters.

use std::collections::HashMap;

use rocksdb::{Direction, IteratorMode};

use super::op::cf;
use super::records::DeadLetter;
use super::{Cf, Store, StoreError, codec, keys};

/// Which dead letters, and which page of them (delivery-id order).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadLetterQuery<'a> {
    /// Only this endpoint's.
    pub endpoint_id: Option<&'a str>,
    /// Dead at or after, Unix ms.
    pub since: Option<u64>,
    /// Dead before, Unix ms.
    pub until: Option<u64>,
    /// Delivery ids greater than this (the page cursor).
    pub after: Option<&'a str>,
    /// At most this many.
    pub limit: usize,
}

impl DeadLetterQuery<'_> {
    fn in_time(&self, dead_at: u64) -> bool {
        self.since.is_none_or(|s| dead_at >= s) && self.until.is_none_or(|u| dead_at < u)
    }
}

impl Store {
    /// Dead letters matching `q`, in delivery-id order, at most `q.limit`.
    pub fn dead_letters_where(
        &self,
        q: &DeadLetterQuery<'_>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let ids = match (q.endpoint_id, q.since.is_some() || q.until.is_some()) {
            (Some(ep), _) => self.endpoint_dead_ids(ep, q)?,
            (None, true) => self.timed_dead_ids(q)?,
            (None, false) => {
                let start = q.after.map(|a| {
                    let mut k = a.as_bytes().to_vec();
                    k.push(0);
                    k
                });
                return self.scan_rows(
                    Cf::DeadLetters,
                    b"",
                    start.as_deref(),
                    q.limit,
                    "dead letter",
                    codec::json,
                );
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(dl) = self.dead_letter(&id)? {
                out.push(dl);
            }
        }
        Ok(out)
    }

    /// One endpoint's dead-letter ids after the cursor, the time filter on
    /// the index value: O(page), plus the rows the time filter skips.
    fn endpoint_dead_ids(
        &self,
        ep: &str,
        q: &DeadLetterQuery<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = keys::prefix(ep);
        let start = match q.after {
            Some(a) => {
                let mut k = keys::dead_by_endpoint(ep, a);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut ids = Vec::new();
        for item in self.db.iterator_cf(
            cf(&self.db, Cf::DeadByEndpoint),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || ids.len() >= q.limit {
                break;
            }
            let dead_at = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            if dead_at.is_some_and(|t| q.in_time(t)) {
                ids.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            }
        }
        Ok(ids)
    }

    /// Ids of everything that died in the time range (after the cursor),
    /// sorted by delivery id: O(dead letters in the range).
    fn timed_dead_ids(&self, q: &DeadLetterQuery<'_>) -> Result<Vec<String>, StoreError> {
        let start = q.since.unwrap_or(0).to_be_bytes();
        let mut ids = Vec::new();
        for item in self.db.iterator_cf(
            cf(&self.db, Cf::DeadByTime),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, _) = item?;
            let Some((at, id)) = keys::split_timed(&k) else {
                continue;
            };
            if q.until.is_some_and(|u| at >= u) {
                break;
            }
            if q.after.is_none_or(|a| id > a) {
                ids.push(id.to_string());
            }
        }
        ids.sort_unstable();
        ids.truncate(q.limit);
        Ok(ids)
    }

    /// Dead letters per endpoint id, from the endpoint index (no record decoding).
    pub fn dead_letter_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for item in self
            .db
            .iterator_cf(cf(&self.db, Cf::DeadByEndpoint), IteratorMode::Start)
        {
            let (k, _) = item?;
            if let Some(end) = k.iter().position(|b| *b == 0) {
                let ep = String::from_utf8_lossy(&k[..end]);
                match counts.get_mut(ep.as_ref()) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(ep.into_owned(), 1);
                    }
                }
            }
        }
        Ok(counts)
    }
}
