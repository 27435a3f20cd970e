//! The local cache's writer in cluster mode: it reads the rows stream in
//! sequence order (an ordered consumer, which re-creates itself on a gap or
//! a lost connection) and applies each batch to the node's RocksDB, with the
//! sequence it reached in the same write. Every node applies every row, its
//! own included, so every cache converges on the stream's order.

use std::sync::Weak;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt as _;
use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::watch;

use super::super::lifetime::Db;
use super::super::op::cf;
use super::super::{Cf, keys};
use super::notes::{Applied, Unended};
use super::rows::{self, DELETED, END, ROWS};
use crate::ids::now_ms;

/// How long the applier waits for a row before it checks that it is not
/// behind the stream (see `follow`).
const STALL_CHECK: Duration = Duration::from_secs(3);

/// Longest a pull request waits (see `follow`).
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// Rows applied in one RocksDB write at most while catching up.
const MAX_APPLY: usize = 10_000;

/// The last sequence recorded in the cache (0: empty).
pub(crate) fn applied_seq(db: &DB) -> u64 {
    read_u64(db, keys::REPLICA_APPLIED)
}

/// When the cache last applied a batch (ms since the epoch; 0: never).
pub(crate) fn applied_ms(db: &DB) -> u64 {
    read_u64(db, keys::REPLICA_APPLIED_MS)
}

fn read_u64(db: &DB, key: &[u8]) -> u64 {
    db.get_cf(cf(db, Cf::Meta), key)
        .ok()
        .flatten()
        .and_then(|v| v.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Where the applier sends what it applied from other nodes.
pub(crate) struct Feed {
    /// This node's name: its own batches need no notice (the bus that
    /// wrote them acted already).
    pub node: String,
    /// The bus side.
    pub tx: tokio::sync::mpsc::UnboundedSender<Applied>,
}

/// How far the cache is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The last stream sequence applied.
    pub seq: u64,
    /// The applier has reached the end of the stream once since it started.
    pub caught_up: bool,
}

/// Apply the stream from `applied + 1` for as long as the store is open,
/// publishing how far it is on `progress`.
pub(crate) async fn run(
    stream: Stream,
    prefix: String,
    db: Weak<Db>,
    progress: watch::Sender<Progress>,
    feed: Feed,
) {
    loop {
        let from = progress.borrow().seq + 1;
        match follow(&stream, &prefix, &db, from, &progress, &feed).await {
            Ok(()) => return, // the store closed
            Err(e) => {
                tracing::warn!(error = %e, from, "Cluster cache: reading the rows stream failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if db.strong_count() == 0 {
            return;
        }
    }
}

async fn follow(
    stream: &Stream,
    prefix: &str,
    db: &Weak<Db>,
    from: u64,
    progress: &watch::Sender<Progress>,
    feed: &Feed,
) -> Result<(), String> {
    let deliver_policy = if from <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: from,
        }
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy,
            // Pulls expire after 2 s with a heartbeat each second, so a
            // consumer lost with its server is noticed (and re-created on
            // another) within ~2 s, not the client's default 30.
            max_expires: PULL_EXPIRES,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if consumer.cached_info().num_pending == 0 {
        progress.send_modify(|p| p.caught_up = true);
    }
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let mut wo = WriteOptions::new();
    wo.set_sync(false);
    let mut pend = Pending::default();
    loop {
        // Rows read with nothing after them and no END yet: the END row was
        // overwritten since, or its tombstone expired. Normally the next
        // batch completes them; if none comes, they are applied as they are.
        let next = if pend.rows > 0 && pend.last_pending == 0 {
            match tokio::time::timeout(ORPHAN_WAIT, messages.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // Only when the stream really has nothing after them: a
                    // batch still being stored (slow during an election)
                    // must not be applied in part (a queue row without its
                    // event would be dead-lettered as "event not found").
                    match stream.get_info().await {
                        Ok(info) if info.state.last_sequence <= pend.seq => {}
                        Ok(_) => continue,
                        Err(e) => return Err(format!("rows stream unreachable: {e}")),
                    }
                    let Some(db) = db.upgrade() else {
                        return Ok(());
                    };
                    pend.write(&db, &wo, progress, feed)?;
                    continue;
                }
            }
        } else {
            match tokio::time::timeout(STALL_CHECK, messages.next()).await {
                Ok(next) => next,
                // Quiet for a while: fine if the stream is, but if it has
                // rows past ours the consumer was lost (with its server,
                // say) and the client's own re-creation backs off to 10 s:
                // make a new one now.
                Err(_) => match stream.get_info().await {
                    Ok(info) if info.state.last_sequence <= progress.borrow().seq.max(pend.seq) => {
                        continue;
                    }
                    Ok(_) => return Err("the rows consumer stalled behind the stream".into()),
                    Err(e) => return Err(format!("rows stream unreachable: {e}")),
                },
            }
        };
        let Some(next) = next else {
            break;
        };
        let m = next.map_err(|e| e.to_string())?;
        let info = m.info().map_err(|e| e.to_string())?;
        let Some(db) = db.upgrade() else {
            return Ok(());
        };
        let headers = m.headers.as_ref();
        let deleted = headers.is_some_and(|h| h.get(DELETED).is_some());
        let end = headers.and_then(|h| h.get(END)).map(|v| v.as_str());
        match rows::decode(prefix, m.subject.as_str(), deleted, &m.payload) {
            Some(op) => {
                op.apply(&db, &mut pend.batch);
                // While catching up at start nothing is built from rows yet.
                if progress.borrow().caught_up {
                    pend.this_batch.note(info.stream_sequence, &op);
                }
            }
            None => {
                tracing::debug!(subject = %m.subject, "Cluster cache: skipping a subject that is not a row.")
            }
        }
        pend.rows += 1;
        pend.seq = info.stream_sequence;
        pend.last_pending = info.pending;
        if let Some(origin) = end {
            let rows = headers
                .and_then(|h| h.get(ROWS))
                .and_then(|v| v.as_str().parse().ok());
            let notes = pend
                .this_batch
                .end(info.stream_sequence, rows, origin, &feed.node);
            pend.to_send.merge(notes);
            // Whole batches only: JetStream stores a committed batch's rows
            // one after another, so "nothing pending" mid-batch is possible
            // and is no reason to apply half of one. Catching up, batches
            // are merged into larger writes; live, each is written at once
            // (its writer waits for it).
            let catching_up = !progress.borrow().caught_up;
            if !catching_up || info.pending == 0 || pend.rows >= MAX_APPLY {
                pend.write(&db, &wo, progress, feed)?;
            }
        }
    }
    Err("the rows stream ended".into())
}

/// How long rows without their batch's END wait for more before they are
/// applied anyway (see `follow`).
const ORPHAN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Rows read from the stream and not yet written to the cache.
#[derive(Default)]
struct Pending {
    batch: WriteBatch,
    rows: usize,
    /// The last row's stream sequence and the consumer's pending count after it.
    seq: u64,
    last_pending: u64,
    /// Notes of the batch being read, and of the batches read but not yet written.
    this_batch: Unended,
    to_send: Applied,
}

impl Pending {
    /// Write what was read, with the sequence reached, then tell the bus.
    fn write(
        &mut self,
        db: &DB,
        wo: &WriteOptions,
        progress: &watch::Sender<Progress>,
        feed: &Feed,
    ) -> Result<(), String> {
        let meta = cf(db, Cf::Meta);
        let mut batch = std::mem::take(&mut self.batch);
        batch.put_cf(meta, keys::REPLICA_APPLIED, self.seq.to_be_bytes());
        batch.put_cf(meta, keys::REPLICA_APPLIED_MS, now_ms().to_be_bytes());
        db.write_opt(batch, wo)
            .map_err(|e| format!("cannot write the local cache: {e}"))?;
        self.rows = 0;
        let caught_up = progress.borrow().caught_up || self.last_pending == 0;
        progress.send_replace(Progress {
            seq: self.seq,
            caught_up,
        });
        // Rows whose batch END was overwritten: origin unknown, so noticed
        // (acting twice on a row is harmless).
        self.to_send.merge(self.this_batch.take_all());
        if !self.to_send.is_empty() {
            let _ = feed.tx.send(std::mem::take(&mut self.to_send));
        }
        Ok(())
    }
}
