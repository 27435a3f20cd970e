//! Replays, purges and manual retries of finished deliveries.
//!
//! A replay or purge works through its dead letters a chunk at a time: one
//! bus turn reads a chunk, re-opens (or forgets) it and queues its commit;
//! the committer hands the deliveries over and sends the run back through
//! the bus's mailbox for the next chunk. So publishes queued meanwhile are
//! planned between chunks instead of waiting for the whole run, and no
//! group commit carries more than a chunk of it: in one turn and one
//! batch, a 20,000-entry replay stalled concurrent publishes 140–155 ms
//! (docs/BENCHMARKS.md).

use std::collections::HashMap;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::dead_letters::{DeadLetterFilter, Purge, Replay, RetryDelivery, page};
use super::{Bus, BusError, commit_and_enqueue, fail, hand_over};
use crate::endpoint::messages::{DeadLettersPurged, Enqueue};
use crate::endpoint::queue::Item;
use crate::ids::{self, now_ms};
use crate::store::records::{DeadLetter, DeliveryRecord, DeliveryStatus};
use crate::store::{Changes, Store, StoreError};

/// Dead letters per bus turn and per commit of a replay or purge. Reading
/// and re-opening one costs ~10 µs, so a chunk holds the bus a few ms. A
/// replayed one writes 5 rows, so a chunk (960) stays one atomic batch in
/// cluster mode too (JetStream takes at most 1,000 messages per batch;
/// `replica::rows::MAX_BATCH`).
pub(crate) const CHUNK: usize = 192;
/// Rows one replayed dead letter writes: its delivery and queue rows, and
/// the dead letter with its two index rows gone.
const ROWS_PER_REPLAY: usize = 5;
const _: () = assert!(CHUNK * ROWS_PER_REPLAY <= crate::store::MAX_ATOMIC_ROWS);

/// What a run does with each chunk.
#[derive(Clone, Copy)]
enum Work {
    /// A dry-run replay: only list what would be replayed.
    List,
    Replay,
    Purge,
}

/// A replay or purge between two chunks.
#[derive(Message)]
#[rtype(result = "()")]
struct Run {
    work: Work,
    filter: DeadLetterFilter,
    endpoint_id: Option<String>,
    /// The last delivery id done: dead letters are read in id order, so a
    /// delivery that dies again after its replay is not replayed twice.
    after: Option<String>,
    found: Vec<DeadLetter>,
    answer: oneshot::Sender<Result<Vec<DeadLetter>, BusError>>,
}

impl Run {
    fn finish(self, res: Result<(), BusError>) {
        let _ = self.answer.send(res.map(|()| self.found));
    }

    /// The chunk is done: the next one goes to the back of the bus's mailbox.
    fn go_on(mut self, done: Vec<DeadLetter>, more: bool, me: &Addr<Bus>) {
        self.found.extend(done);
        if more {
            me.do_send(self);
        } else {
            self.finish(Ok(()));
        }
    }
}

/// Deliveries re-opened by a replay or retry are committed: they may be
/// re-opened again.
#[derive(Message)]
#[rtype(result = "()")]
struct Reopened(Vec<String>);

impl Handler<Replay> for Bus {
    type Result = ResponseFuture<Result<Vec<DeadLetter>, BusError>>;

    /// Put dead letters back in their endpoints' queues with a fresh attempt budget.
    fn handle(&mut self, msg: Replay, ctx: &mut Context<Self>) -> Self::Result {
        let work = if msg.dry_run {
            Work::List
        } else {
            Work::Replay
        };
        self.start(work, msg.filter, ctx)
    }
}

impl Handler<Purge> for Bus {
    type Result = ResponseFuture<Result<Vec<DeadLetter>, BusError>>;

    /// Delete matching dead letters for good.
    fn handle(&mut self, msg: Purge, ctx: &mut Context<Self>) -> Self::Result {
        self.start(Work::Purge, msg.0, ctx)
    }
}

impl Handler<Run> for Bus {
    type Result = ();

    fn handle(&mut self, run: Run, ctx: &mut Context<Self>) {
        self.chunk(run, ctx.address());
    }
}

impl Handler<Reopened> for Bus {
    type Result = ();

    fn handle(&mut self, msg: Reopened, _: &mut Context<Self>) {
        for id in msg.0 {
            self.reopening.remove(&id);
        }
    }
}

impl Bus {
    fn start(
        &mut self,
        work: Work,
        filter: DeadLetterFilter,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<Vec<DeadLetter>, BusError>> {
        let (answer, rx) = oneshot::channel();
        let endpoint_id = match &filter.endpoint {
            None => Ok(None),
            Some(e) => self
                .endpoint_id(&filter.app, e)
                .map(Some)
                .ok_or_else(|| BusError::NotFound(format!("endpoint `{e}`"))),
        };
        match endpoint_id {
            Err(e) => {
                let _ = answer.send(Err(e));
            }
            Ok(endpoint_id) => {
                let run = Run {
                    work,
                    filter,
                    endpoint_id,
                    after: None,
                    found: Vec::new(),
                    answer,
                };
                self.chunk(run, ctx.address());
            }
        }
        Box::pin(async move { rx.await.unwrap_or(Err(BusError::Unavailable)) })
    }

    /// Read, apply and commit the run's next chunk; the committer sends the
    /// run on (or answers it) once the chunk is durable.
    fn chunk(&mut self, mut run: Run, me: Addr<Bus>) {
        let read = page(
            self.store(),
            &run.filter,
            run.endpoint_id.as_deref(),
            run.after.as_deref(),
            CHUNK,
        );
        let chunk = match read {
            Ok(c) => c,
            Err(e) => return run.finish(Err(e.into())),
        };
        let more = chunk.len() == CHUNK;
        if let Some(last) = chunk.last() {
            run.after = Some(last.delivery_id.clone());
        }
        // Another run's (or a retry's) deliveries until its commit lands;
        // dead letters of deleted endpoints have nowhere to go.
        let chunk: Vec<DeadLetter> = chunk
            .into_iter()
            .filter(|d| !self.reopening.contains(&d.delivery_id))
            .filter(|d| matches!(run.work, Work::Purge) || self.has_endpoint(&d.endpoint_id))
            .collect();
        match run.work {
            // A dry run lists what a replay would re-open, so it reads the
            // delivery rows too (and leaves what it built unused).
            Work::List => match reopen_found(chunk, self.store()) {
                Err(e) => run.finish(Err(e.into())),
                Ok(r) => run.go_on(r.replayed, more, &me),
            },
            Work::Replay => match reopen_found(chunk, self.store()) {
                Err(e) => run.finish(Err(e.into())),
                Ok(r) if r.changes.is_empty() => run.go_on(r.replayed, more, &me),
                Ok(Reopening {
                    changes,
                    enqueues,
                    replayed,
                }) => {
                    let ids: Vec<String> = replayed.iter().map(|d| d.delivery_id.clone()).collect();
                    self.reopening.extend(ids.iter().cloned());
                    hand_over(self, changes, enqueues, move |res| {
                        me.do_send(Reopened(ids));
                        match res {
                            Ok(()) => run.go_on(replayed, more, &me),
                            Err(e) => run.finish(Err(e.into())),
                        }
                    });
                }
            },
            Work::Purge => {
                if chunk.is_empty() {
                    return run.go_on(chunk, more, &me);
                }
                let mut changes = Changes::new();
                let mut per: HashMap<String, u64> = HashMap::new();
                for d in &chunk {
                    changes.forget_dead_letter(d);
                    *per.entry(d.endpoint_id.clone()).or_default() += 1;
                }
                let gauges = per
                    .into_iter()
                    .map(|(ep, n)| (ep, DeadLettersPurged(n)))
                    .collect();
                hand_over(self, changes, gauges, move |res| match res {
                    Ok(()) => run.go_on(chunk, more, &me),
                    Err(e) => run.finish(Err(e.into())),
                });
            }
        }
    }
}

/// A replay chunk re-opened: the rows to commit, each endpoint's `Enqueue`,
/// and the dead letters it re-opened (what the caller is told was replayed).
struct Reopening {
    changes: Changes,
    enqueues: Vec<(String, Enqueue)>,
    replayed: Vec<DeadLetter>,
}

/// Re-open the chunk's deliveries, their rows read from `store` in one
/// batch. A dead letter whose delivery row is gone cannot be re-opened: it
/// is logged and left where it is, and not reported as replayed.
fn reopen_found(chunk: Vec<DeadLetter>, store: &Store) -> Result<Reopening, StoreError> {
    let rows = store.deliveries(chunk.iter().map(|d| d.delivery_id.as_str()));
    reopen_rows(chunk, rows)
}

/// [`reopen_found`] with each dead letter's delivery row already read
/// (`rows[i]` belongs to `chunk[i]`).
fn reopen_rows(
    chunk: Vec<DeadLetter>,
    rows: Vec<Result<Option<DeliveryRecord>, StoreError>>,
) -> Result<Reopening, StoreError> {
    let mut changes = Changes::new();
    let mut items: HashMap<String, Vec<Item>> = HashMap::new();
    let mut replayed = Vec::with_capacity(chunk.len());
    for (dl, row) in chunk.into_iter().zip(rows) {
        let Some(d) = row? else {
            tracing::warn!(delivery = %dl.delivery_id, endpoint = %dl.endpoint_id,
                "A dead letter has no delivery row; it cannot be replayed and stays.");
            continue;
        };
        let item = reopen(d, Some(&dl), &mut changes);
        items.entry(dl.endpoint_id.clone()).or_default().push(item);
        replayed.push(dl);
    }
    let enqueues = items
        .into_iter()
        .map(|(ep, items)| {
            let replayed = items.len() as u64;
            (ep, Enqueue { items, replayed })
        })
        .collect();
    Ok(Reopening {
        changes,
        enqueues,
        replayed,
    })
}

/// Put a finished delivery back in its endpoint's queue: new ticket, a fresh
/// `max_attempts` budget, same id (so `webhook-id` stays the event's id).
fn reopen(mut d: DeliveryRecord, dead: Option<&DeadLetter>, changes: &mut Changes) -> Item {
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

impl Handler<RetryDelivery> for Bus {
    type Result = ResponseActFuture<Self, Result<(), BusError>>;

    /// Re-open one delivery; an open one (or one a replay is re-opening)
    /// is a conflict.
    fn handle(&mut self, msg: RetryDelivery, _: &mut Context<Self>) -> Self::Result {
        let d = match self.store().delivery(&msg.delivery) {
            Ok(Some(d)) if d.app == msg.app => d,
            Ok(_) => {
                return fail(BusError::NotFound(format!("delivery `{}`", msg.delivery)));
            }
            Err(e) => return fail(e.into()),
        };
        if d.status.is_open() || self.reopening.contains(&d.id) {
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
        let id = d.id.clone();
        let item = reopen(d, dead.as_ref(), &mut changes);
        let enqueue = Enqueue {
            items: vec![item],
            replayed: u64::from(was_dead),
        };
        self.reopening.insert(id.clone());
        Box::pin(
            commit_and_enqueue(self, changes, vec![(endpoint, enqueue)], ()).map(
                move |res, act: &mut Bus, _| {
                    act.reopening.remove(&id);
                    res
                },
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_delivery(id: &str) -> DeliveryRecord {
        DeliveryRecord {
            id: id.into(),
            event_id: "evt_1".into(),
            endpoint_id: "ep_1".into(),
            app: crate::model::app::default_id(),
            status: DeliveryStatus::Dead,
            attempts: 3,
            created_at: 1,
            updated_at: 2,
            next_attempt_at: None,
            last_delay_ms: Some(100),
            last_error: Some("HTTP 500".into()),
            ticket: 7,
            budget_start: 0,
            queued_at: 1,
            test: false,
        }
    }

    fn dead_letter(id: &str) -> DeadLetter {
        DeadLetter {
            delivery_id: id.into(),
            endpoint_id: "ep_1".into(),
            app: crate::model::app::default_id(),
            event_id: "evt_1".into(),
            reason: "HTTP 500".into(),
            attempts: 3,
            dead_at: 2,
        }
    }

    #[test]
    fn a_replayed_dead_letter_writes_the_rows_a_chunk_is_sized_by() {
        let mut changes = Changes::new();
        let item = reopen(
            dead_delivery("dlv_1"),
            Some(&dead_letter("dlv_1")),
            &mut changes,
        );
        assert_eq!(changes.len(), ROWS_PER_REPLAY);
        // A fresh budget, a new ticket, the same delivery.
        assert_eq!((item.budget_start, item.attempts), (3, 3));
        assert_ne!(item.ticket, 7);
        assert_eq!(item.delivery_id, "dlv_1");
    }

    #[test]
    fn a_dead_letter_without_its_delivery_row_is_not_reported_as_replayed() {
        let chunk = vec![
            dead_letter("dlv_1"),
            dead_letter("dlv_gone"),
            dead_letter("dlv_2"),
        ];
        let rows = chunk
            .iter()
            .map(|d| Ok((d.delivery_id != "dlv_gone").then(|| dead_delivery(&d.delivery_id))))
            .collect();
        let r = reopen_rows(chunk, rows).unwrap();
        let replayed: Vec<_> = r.replayed.iter().map(|d| d.delivery_id.as_str()).collect();
        assert_eq!(replayed, ["dlv_1", "dlv_2"]);
        assert_eq!(r.changes.len(), 2 * ROWS_PER_REPLAY);
        let queued: Vec<_> = r.enqueues[0]
            .1
            .items
            .iter()
            .map(|i| &i.delivery_id)
            .collect();
        assert_eq!(queued, ["dlv_1", "dlv_2"]);
        assert_eq!(r.enqueues[0].1.replayed, 2);
    }

    #[test]
    fn a_chunk_whose_delivery_rows_cannot_be_read_replays_nothing() {
        let r = reopen_rows(
            vec![dead_letter("dlv_1")],
            vec![Err(StoreError::Write("disk gone".into()))],
        );
        assert!(r.is_err());
    }
}
