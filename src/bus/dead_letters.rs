//! Which dead letters an operation applies to, how they are read a page at
//! a time, and the bus messages that replay, purge or retry them (run by
//! `replays`, owned by the bus because it routes the replayed deliveries
//! back to their endpoint actors).

use actix::prelude::*;
use serde::Deserialize;

use super::BusError;
use crate::store::records::DeadLetter;
use crate::store::{DeadLetterQuery, Store, StoreError};

/// Which dead letters an operation applies to; every given condition must hold.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    /// The application (id) whose dead letters these are; set by the
    /// caller's scope, never by a request body.
    #[serde(skip, default = "crate::model::app::default_id")]
    pub app: String,
    /// Endpoint id or name.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Dead at or after this time, Unix ms.
    #[serde(default)]
    pub since: Option<u64>,
    /// Dead before this time, Unix ms.
    #[serde(default)]
    pub until: Option<u64>,
    /// Only these delivery ids.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

impl Default for DeadLetterFilter {
    fn default() -> Self {
        Self {
            app: crate::model::app::default_id(),
            endpoint: None,
            since: None,
            until: None,
            ids: None,
        }
    }
}

impl DeadLetterFilter {
    fn admits(&self, dl: &DeadLetter, endpoint_id: Option<&str>) -> bool {
        dl.app == self.app
            && endpoint_id.is_none_or(|e| dl.endpoint_id == e)
            && self.since.is_none_or(|s| dl.dead_at >= s)
            && self.until.is_none_or(|u| dl.dead_at < u)
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&dl.delivery_id))
    }
}

/// Dead letters matching `filter` (endpoint already resolved to an id),
/// after delivery id `after`, at most `limit`, in delivery-id order. Through
/// the store's indexes: an endpoint's page or a time range costs what it
/// returns, not the total.
pub fn page(
    store: &Store,
    filter: &DeadLetterFilter,
    endpoint_id: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<DeadLetter>, StoreError> {
    if let Some(ids) = &filter.ids {
        let mut ids: Vec<&String> = ids
            .iter()
            .filter(|i| after.is_none_or(|a| i.as_str() > a))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            if out.len() == limit {
                break;
            }
            if let Some(dl) = store.dead_letter(id)? {
                if filter.admits(&dl, endpoint_id) {
                    out.push(dl);
                }
            }
        }
        return Ok(out);
    }
    // The indexes are by endpoint and by time, not by application: read on
    // past other applications' dead letters until the page is full. An
    // endpoint's page needs no second read (the endpoint is the app's).
    let want = if endpoint_id.is_some() {
        limit
    } else {
        limit.max(256)
    };
    let mut out = Vec::new();
    let mut cursor = after.map(str::to_string);
    loop {
        let batch = store.dead_letters_where(&DeadLetterQuery {
            endpoint_id,
            since: filter.since,
            until: filter.until,
            after: cursor.as_deref(),
            limit: want,
        })?;
        let n = batch.len();
        if let Some(last) = batch.last() {
            cursor = Some(last.delivery_id.clone());
        }
        out.extend(batch.into_iter().filter(|d| d.app == filter.app));
        if out.len() >= limit || n < want {
            break;
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// Every dead letter matching `filter` (endpoint already resolved to an id).
pub fn matching(
    store: &Store,
    filter: &DeadLetterFilter,
    endpoint_id: Option<&str>,
) -> Result<Vec<DeadLetter>, StoreError> {
    page(store, filter, endpoint_id, None, usize::MAX)
}

/// Replay (or with `dry_run`, list) matching dead letters.
#[derive(Message)]
#[rtype(result = "Result<Vec<DeadLetter>, BusError>")]
pub struct Replay {
    /// Which.
    pub filter: DeadLetterFilter,
    /// Only report what would be replayed.
    pub dry_run: bool,
}

/// Delete matching dead letters (their delivery history stays).
#[derive(Message)]
#[rtype(result = "Result<Vec<DeadLetter>, BusError>")]
pub struct Purge(pub DeadLetterFilter);

/// Attempt a finished delivery again (manual retry).
#[derive(Message)]
#[rtype(result = "Result<(), BusError>")]
pub struct RetryDelivery {
    /// The application (id) it must belong to.
    pub app: String,
    /// The delivery.
    pub delivery: String,
}
