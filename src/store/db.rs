//! The `Store` handle: opening RocksDB and writing (grouped or direct); its typed reads are in `reads.rs`.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

use super::committer::{Committer, Written};
use super::crypto::MasterKey;
use super::lifetime::Db;
use super::op::{Op, cf};
use super::records::EndpointRecord;
use super::replica::{Applied, ClusterSettings, Replica};
use super::{Cf, Changes, StoreError, keys};
use crate::model::Durability;

/// A raw (key, value) row.
pub(super) type Row = (Vec<u8>, Vec<u8>);

/// The greatest ticket among every endpoint's queue rows: one seek to the
/// end of each endpoint's queue, not a pass over every queued row.
fn max_queued_ticket(db: &DB) -> Result<Option<u128>, StoreError> {
    let mut max = None;
    for item in db.iterator_cf(cf(db, Cf::Endpoints), IteratorMode::Start) {
        let (id, _) = item?;
        let prefix = keys::prefix(&String::from_utf8_lossy(&id));
        // The first key past this endpoint's rows: ids never hold 0xff.
        let mut end = prefix.clone();
        end.push(0xff);
        let last = db
            .iterator_cf(
                cf(db, Cf::Queue),
                IteratorMode::From(&end, Direction::Reverse),
            )
            .next()
            .transpose()?;
        if let Some((k, _)) = last.filter(|(k, _)| k.starts_with(&prefix)) {
            max = max.max(keys::queue_ticket(&k));
        }
    }
    Ok(max)
}

/// Memtable bytes across all column families before RocksDB flushes.
/// A draining backlog fills it with outcome writes, so it sets most of the
/// draining RSS peak; a smaller one flushes more often, and the latency
/// tail follows the flushes. 56 MiB kept a 1 M drain at 142–150 MiB until
/// publishes were answered from the committer thread (155–158 MiB after);
/// 52 MiB: 144–149 MiB, RocksDB jobs per latency run within the spread; 48
/// gave 138 MiB but ~40 % more jobs per latency run (docs/RELIABILITY.md §3).
const MEMTABLE_BUDGET: usize = 52 << 20;
/// The block cache shared by every column family. Small on purpose: the
/// hot rows are in memtables or in the endpoints' memory, and a backlog's
/// pages are read once, in order, so a bigger cache only held a draining
/// backlog's blocks (a 1 M drain peaked 27–33 MiB lower at 8 than at 32 MiB,
/// and drained no slower; docs/RELIABILITY.md §3).
const BLOCK_CACHE: usize = 8 << 20;

/// Shared handle to the embedded store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(super) db: Arc<Db>,
    committer: Committer,
    /// Seals endpoint secrets on write, opens them on read.
    pub(super) key: MasterKey,
    /// Cluster mode's link to JetStream; `None` when embedded.
    replica: Option<Replica>,
}

fn open_db(path: &Path) -> Result<Arc<Db>, StoreError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.increase_parallelism(2);
    // Memory must not grow with the backlog: cap memtables across all
    // column families and share one block cache, so a million queued
    // deliveries cost disk, not RAM.
    opts.set_db_write_buffer_size(MEMTABLE_BUDGET);
    let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&cache);
    let cfs = Cf::ALL.iter().map(|c| {
        let mut o = Options::default();
        o.set_compression_type(rocksdb::DBCompressionType::Lz4);
        o.set_write_buffer_size(MEMTABLE_BUDGET / 4);
        o.set_block_based_table_factory(&table);
        ColumnFamilyDescriptor::new(c.name(), o)
    });
    Ok(Arc::new(Db::new(DB::open_cf_descriptors(
        &opts, path, cfs,
    )?)))
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path, durability: Durability, key: MasterKey) -> Result<Self, StoreError> {
        let db = open_db(path)?;
        super::migrate::build_indexes(&db)?;
        Self::ready(db, key, None, |db| {
            Committer::start(db, durability == Durability::Fsync)
        })
    }

    /// Open the store in cluster mode: rows are written to JetStream and the
    /// RocksDB at `path` is this node's cache of them, caught up (or rebuilt)
    /// before this resolves. See `replica`.
    pub async fn open_cluster(
        path: &Path,
        settings: ClusterSettings,
        key: MasterKey,
    ) -> Result<Self, StoreError> {
        let db = open_db(path)?;
        let replica = Replica::start(settings, &db).await?;
        let sink = replica.clone();
        Self::ready(db, key, Some(replica), move |_| {
            Committer::start_with(move || sink.sink())
        })
    }

    fn ready(
        db: Arc<Db>,
        key: MasterKey,
        replica: Option<Replica>,
        committer: impl FnOnce(&Arc<Db>) -> std::io::Result<Committer>,
    ) -> Result<Self, StoreError> {
        // Deliveries queued by an earlier process keep their place: new
        // tickets sort after theirs even if this machine's clock is behind.
        if let Some(max) = max_queued_ticket(&db)? {
            crate::ids::advance_past(max);
        }
        let committer = committer(&db)
            .map_err(|e| StoreError::Write(format!("cannot start committer thread: {e}")))?;
        Ok(Self {
            db,
            committer,
            key,
            replica,
        })
    }

    /// In cluster mode, what other nodes write from now on (applied to
    /// this node's cache first); the first call only, `None` when embedded.
    pub fn take_cluster_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Applied>> {
        self.replica.as_ref().and_then(Replica::take_feed)
    }

    /// In cluster mode, the largest message the NATS server takes (bytes).
    pub fn cluster_max_payload(&self) -> Option<usize> {
        self.replica.as_ref().map(Replica::max_payload)
    }

    /// In cluster mode, the partitions this node drives, as they change.
    pub fn cluster_ownership(&self) -> Option<tokio::sync::watch::Receiver<super::Owned>> {
        self.replica.as_ref().map(Replica::owned)
    }

    /// In cluster mode, this node's view of the cluster (for `/readyz`
    /// and `/metrics`); `None` when embedded.
    pub fn cluster_state(&self) -> Option<ClusterStatus> {
        self.replica.as_ref().map(|r| ClusterStatus {
            connected: r.connected(),
            applied_seq: r.applied(),
            owned: r.owned().borrow().clone(),
        })
    }

    /// Announce a publish that will call [`Self::commit`] soon: until the
    /// guard drops, a group being formed waits for it (briefly) rather than
    /// paying an fsync of its own. Hand it to [`Self::commit_then`] (or drop
    /// it if the publish fails first).
    pub(crate) fn expect_commit(&self) -> super::Coming {
        self.committer.expect()
    }

    /// Write `changes` in one atomic batch through the group committer
    /// (durable per config). Queued at the call, so batches land in call
    /// order; the future resolves once they are durable.
    pub(crate) fn commit(
        &self,
        changes: Changes,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        self.committer.commit(changes.ops)
    }

    /// [`Store::commit`], then `then` with the result on the committer
    /// thread, in commit order: for a publish, whose follow-up (answer the
    /// publisher, hand deliveries to endpoint actors) is only messages to
    /// other threads, so no thread is woken just to pass the result on.
    /// `then` must be short and must not block: the next group waits for it.
    /// `coming` (from [`Self::expect_commit`]) is released as the committer
    /// takes the batch, so a group waiting for it never misses it.
    pub(crate) fn commit_then(
        &self,
        changes: Changes,
        coming: Option<super::Coming>,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        self.committer.commit_then(changes.ops, coming, then);
    }

    /// Write `changes` atomically, after every write queued before them,
    /// without an fsync of their own, on the committer thread: the caller
    /// never runs RocksDB itself. Queued at the call; the future resolves
    /// once they are written (WAL and memtable). For what follows a publish
    /// (attempt outcomes): a crash before the write only means the delivery
    /// is attempted again (at-least-once), never lost, as the batch is atomic.
    pub(crate) fn record(
        &self,
        changes: Changes,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        self.committer.record(changes.ops).1
    }

    /// [`Store::record`], also saying where the batch is in the order (see
    /// [`Store::is_written`]).
    pub(crate) fn record_numbered(
        &self,
        changes: Changes,
    ) -> (
        Written,
        impl std::future::Future<Output = Result<(), StoreError>> + use<>,
    ) {
        self.committer.record(changes.ops)
    }

    /// Like [`Store::record`], for a caller that does not wait: the returned
    /// [`Written`] tells (by [`Store::is_written`], an atomic load) when the
    /// batch is written, so no task is woken per write; a failure is logged
    /// by the committer (and [`Store::writable`] turns false).
    pub(crate) fn hand_over(&self, changes: Changes) -> Written {
        self.committer.hand_over(changes.ops)
    }

    /// Has the batch behind `w` been written (or failed)?
    pub(crate) fn is_written(&self, w: Written) -> bool {
        self.committer.is_written(w)
    }

    /// Resolves once every write queued before it (committed or recorded)
    /// is written: shutdown waits for it before the store closes.
    pub(crate) fn flush(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        self.committer.record(Vec::new()).1
    }

    /// Stop following the cluster (cluster mode; nothing embedded): the
    /// applier and lease tasks end before this resolves, so none of them
    /// holds the database when the last handle drops. Reads still work;
    /// writes after it are not applied here.
    pub(crate) async fn close(&self) {
        if let Some(r) = &self.replica {
            r.close().await;
        }
    }

    /// Write `changes` atomically now, without fsync. For state changes after
    /// publish: losing one in a crash only means the delivery is attempted
    /// again (at-least-once), never lost, because the batch is atomic. Blocks
    /// (in cluster mode until JetStream has it): never on an async thread.
    pub(crate) fn write_now(&self, changes: &Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.replica.is_some() {
            // Every row goes to the stream, never only to this node's cache.
            return self.committer.record_blocking(changes.ops.clone());
        }
        let mut batch = WriteBatch::default();
        for op in &changes.ops {
            op.apply(&self.db, &mut batch);
        }
        let mut wo = WriteOptions::new();
        wo.set_sync(false);
        let result = self.db.write_opt(batch, &wo);
        self.committer.note(result.is_ok());
        result?;
        Ok(())
    }

    /// Did the latest write succeed? False after an I/O error such as a full
    /// disk, until a write succeeds again (RocksDB may keep refusing writes
    /// until the process restarts).
    pub fn writable(&self) -> bool {
        self.committer.writable()
    }

    /// The write of an endpoint record, its secrets sealed under the master
    /// key (so only the store, which holds the key, can build it).
    pub(crate) fn save_endpoint(&self, changes: &mut Changes, record: &EndpointRecord) {
        changes.push(Op::put_json(
            Cf::Endpoints,
            record.id.as_bytes(),
            &self.key.seal_record(record),
        ));
    }

    /// Make the next `n` durable (publish) commits fail as a full disk
    /// would; outcome writes are not failed (tests of what survives a
    /// failed commit; nothing else calls it).
    #[doc(hidden)]
    pub fn fail_next_commits(&self, n: usize) {
        self.committer.fail_next(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{DeliveryRecord, DeliveryStatus, EndpointRecord, EndpointTotals};

    #[test]
    fn tickets_after_a_reopen_sort_after_every_queued_one_even_from_a_clock_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let key = || MasterKey::load_or_create(None, dir.path()).unwrap();
        // Queued by a process whose clock ran ten hours ahead (further than
        // any other test advances the shared generator).
        let ahead = ulid::Ulid::from_datetime(
            std::time::SystemTime::now() + std::time::Duration::from_secs(36_000),
        )
        .0;
        {
            let store = Store::open(&path, Durability::Buffered, key()).unwrap();
            let record = EndpointRecord {
                id: "ep_a".into(),
                app: crate::model::app::default_id(),
                app_uid: String::new(),
                spec: crate::model::spec::EndpointSpec::new("a", "https://example.com/", &[]),
                created_at: 0,
                updated_at: 0,
                version: 1,
                retiring_secrets: Vec::new(),
                applied: None,
            };
            let mut c = Changes::new();
            store.save_endpoint(&mut c, &record);
            for ticket in [ahead - 5, ahead] {
                c.enqueue(&DeliveryRecord {
                    id: format!("dlv_{ticket}"),
                    event_id: "evt_1".into(),
                    endpoint_id: "ep_a".into(),
                    app: crate::model::app::default_id(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    created_at: 0,
                    updated_at: 0,
                    next_attempt_at: None,
                    last_delay_ms: None,
                    last_error: None,
                    ticket,
                    budget_start: 0,
                    queued_at: 0,
                    test: false,
                });
            }
            store.write_now(&c).unwrap();
        }
        let _store = Store::open(&path, Durability::Buffered, key()).unwrap();
        assert!(crate::ids::next_ulid().0 > ahead);
    }

    #[test]
    fn recorded_and_committed_writes_land_in_the_order_they_were_queued() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(None, dir.path()).unwrap();
        let store = Store::open(&dir.path().join("db"), Durability::Fsync, key).unwrap();
        let totals = |delivered| {
            let mut c = Changes::new();
            c.totals(
                "ep_a",
                &EndpointTotals {
                    delivered,
                    ..Default::default()
                },
            );
            c
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Queued at the call, whatever order the futures are awaited in.
        let first = store.record(totals(1));
        let second = store.commit(totals(2));
        let third = store.record(totals(3));
        rt.block_on(async {
            third.await.unwrap();
            second.await.unwrap();
            first.await.unwrap();
        });
        assert_eq!(store.endpoint_totals("ep_a").unwrap().delivered, 3);
        let last = store.commit(totals(4));
        let barrier = store.flush();
        rt.block_on(async {
            barrier.await.unwrap();
            // The barrier resolved, so everything queued before it is written.
            assert_eq!(store.endpoint_totals("ep_a").unwrap().delivered, 4);
            last.await.unwrap();
        });
    }
}

/// A cluster node's state, read at once: what `/readyz` and the
/// `hookbus_cluster_*` gauges report.
#[derive(Clone, Debug)]
pub struct ClusterStatus {
    /// Connected to a NATS server now.
    pub connected: bool,
    /// The last rows stream sequence this node's cache applied.
    pub applied_seq: u64,
    /// The partitions this node drives, and the live nodes it sees.
    pub owned: super::Owned,
}
