//! Dead-letter replay and purge, owned by the bus because it routes the
//! replayed deliveries back to their endpoint actors.

use std::collections::HashMap;

use actix::prelude::*;
use serde::Deserialize;

use super::{Bus, BusError, commit_and_enqueue, commit_then, fail};
use crate::endpoint::messages::{DeadLettersPurged, Enqueue};
use crate::endpoint::queue::Item;
use crate::ids::{self, now_ms};
use crate::store::records::{DeadLetter, DeliveryStatus};
use crate::store::{Changes, DeadLetterQuery, Store, StoreError};

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

impl Bus {
    fn resolve_filter(&self, filter: &DeadLetterFilter) -> Result<Option<String>, BusError> {
        match &filter.endpoint {
            None => Ok(None),
            Some(e) => self
                .endpoint_id(&filter.app, e)
                .map(Some)
                .ok_or_else(|| BusError::NotFound(format!("endpoint `{e}`"))),
        }
    }
}

impl Handler<Replay> for Bus {
    type Result = ResponseActFuture<Self, Result<Vec<DeadLetter>, BusError>>;

    /// Put dead letters back in their endpoints' queues with a fresh attempt budget.
    fn handle(&mut self, msg: Replay, _: &mut Context<Self>) -> Self::Result {
        let prepared = (|| {
            let ep = self.resolve_filter(&msg.filter)?;
            let found = matching(self.store(), &msg.filter, ep.as_deref())?;
            // Dead letters of deleted endpoints have nowhere to go.
            let found: Vec<DeadLetter> = found
                .into_iter()
                .filter(|d| self.has_endpoint(&d.endpoint_id))
                .collect();
            if msg.dry_run {
                return Ok((found, Changes::new(), HashMap::new()));
            }
            let mut changes = Changes::new();
            let mut items: HashMap<String, Vec<Item>> = HashMap::new();
            for dl in &found {
                let Some(d) = self.store().delivery(&dl.delivery_id)? else {
                    continue;
                };
                let item = reopen(d, Some(dl), &mut changes);
                items.entry(dl.endpoint_id.clone()).or_default().push(item);
            }
            Ok::<_, BusError>((found, changes, items))
        })();
        let (found, changes, items) = match prepared {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        if msg.dry_run || changes.is_empty() {
            return Box::pin(fut::ready(Ok(found)));
        }
        let enqueues = items
            .into_iter()
            .map(|(ep, items)| {
                let replayed = items.len() as u64;
                (ep, Enqueue { items, replayed })
            })
            .collect();
        commit_and_enqueue(self, changes, enqueues, found)
    }
}

impl Handler<Purge> for Bus {
    type Result = ResponseActFuture<Self, Result<Vec<DeadLetter>, BusError>>;

    /// Delete matching dead letters for good.
    fn handle(&mut self, msg: Purge, _: &mut Context<Self>) -> Self::Result {
        let found = self
            .resolve_filter(&msg.0)
            .and_then(|ep| Ok(matching(self.store(), &msg.0, ep.as_deref())?));
        let found = match found {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        let mut changes = Changes::new();
        for d in &found {
            changes.forget_dead_letter(d);
        }
        commit_then(self, changes, move |act| {
            let mut per: HashMap<&str, u64> = HashMap::new();
            for d in &found {
                *per.entry(d.endpoint_id.as_str()).or_default() += 1;
            }
            for (ep, n) in per {
                act.send_to(ep, DeadLettersPurged(n));
            }
            Ok(found)
        })
    }
}

/// Put a finished delivery back in its endpoint's queue: new ticket, a fresh
/// `max_attempts` budget, same id (so `webhook-id` stays the event's id).
pub(super) fn reopen(
    mut d: crate::store::records::DeliveryRecord,
    dead: Option<&DeadLetter>,
    changes: &mut Changes,
) -> Item {
    let ticket = u128::from(ids::next_ulid());
    d.status = DeliveryStatus::Pending;
    d.budget_start = d.attempts;
    d.queued_at = now_ms();
    d.next_attempt_at = None;
    d.last_delay_ms = None;
    d.ticket = ticket;
    d.updated_at = now_ms();
    changes.requeue(&d);
    if let Some(dl) = dead {
        changes.forget_dead_letter(dl);
    }
    Item {
        delivery_id: d.id,
        ticket,
        event_id: d.event_id,
        attempts: d.attempts,
        last_delay: None,
        event: None,
        rendered: None,
        budget_start: d.attempts,
        queued_ms: d.queued_at,
        created_ms: d.created_at,
    }
}

/// Attempt a finished delivery again (manual retry).
#[derive(Message)]
#[rtype(result = "Result<(), BusError>")]
pub struct RetryDelivery {
    /// The application (id) it must belong to.
    pub app: String,
    /// The delivery.
    pub delivery: String,
}

impl Handler<RetryDelivery> for Bus {
    type Result = ResponseActFuture<Self, Result<(), BusError>>;

    /// Re-open one delivery; an open one is a conflict.
    fn handle(&mut self, msg: RetryDelivery, _: &mut Context<Self>) -> Self::Result {
        let d = match self.store().delivery(&msg.delivery) {
            Ok(Some(d)) if d.app == msg.app => d,
            Ok(_) => {
                return fail(BusError::NotFound(format!("delivery `{}`", msg.delivery)));
            }
            Err(e) => return fail(e.into()),
        };
        if d.status.is_open() {
            return fail(BusError::Conflict(format!(
                "delivery `{}` is still pending",
                d.id
            )));
        }
        if !self.has_endpoint(&d.endpoint_id) {
            return fail(BusError::Conflict("its endpoint was deleted".into()));
        }
        let dead = match self.store().dead_letter(&d.id) {
            Ok(dl) => dl,
            Err(e) => return fail(e.into()),
        };
        let was_dead = dead.is_some();
        let mut changes = Changes::new();
        let endpoint = d.endpoint_id.clone();
        let item = reopen(d, dead.as_ref(), &mut changes);
        let enqueue = Enqueue {
            items: vec![item],
            replayed: u64::from(was_dead),
        };
        commit_and_enqueue(self, changes, vec![(endpoint, enqueue)], ())
    }
}
