//! Cluster mode's storage backend: every row write goes to a replicated
//! JetStream stream, and the node's RocksDB becomes a cache of that stream.
//!
//! ```text
//!  committer thread ──atomic batch──▶ JetStream stream `<PREFIX>_rows`
//!        ▲  (answer once replicated      (one subject per row, latest value
//!        │   and applied locally)          kept; tombstones with a TTL)
//!        │                                         │ ordered consumer
//!  applied seq ◀── applier task ◀──────────────────┘ (every node)
//!                      │ WriteBatch
//!                      ▼
//!              local RocksDB cache (the same column families, read as in
//!              embedded mode)
//! ```
//!
//! The seam with embedded mode is the committer's [`Sink`]: a group of
//! change sets is written to JetStream (an atomic batch each, so an event
//! and its deliveries land together), and its writer is answered only when
//! the stream has acknowledged it *and* this node's applier has applied it,
//! so a reader on this node sees its own writes. Reads are the embedded
//! store's, from the cache. Nothing exists only on one node: a node with an
//! empty or stale cache rebuilds it from the stream before it serves.

mod applier;
mod batch;
mod cache;
pub mod leases;
mod notes;
mod rows;
mod start;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::StoreError;
use super::committer::Sink;
use super::lifetime::Db;
use super::op::Op;
pub(crate) use applier::Progress;
pub use notes::Applied;
pub(crate) use rows::MAX_BATCH;
use start::{Tasks, connect_and_catch_up};

/// How to reach JetStream and lay out the stream (from `[cluster]`).
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// NATS servers.
    pub urls: Vec<String>,
    /// This node's name (the client's name, and the origin of its batches).
    pub node: String,
    /// Stream replicas.
    pub replicas: usize,
    /// Prefix of stream and subject names.
    pub prefix: String,
    /// How long tombstones stay in the stream.
    pub tombstone_ttl: Duration,
    /// Endpoint partitions (the unit of ownership).
    pub partitions: u32,
    /// How long a partition lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Connection and request timeout.
    pub timeout: Duration,
    /// Authentication and TLS.
    pub auth: ClusterAuth,
}

/// NATS credentials and TLS files.
#[derive(Clone, Debug, Default)]
pub struct ClusterAuth {
    /// A `.creds` file.
    pub credentials_file: Option<std::path::PathBuf>,
    /// A token.
    pub token: Option<String>,
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// CA certificate.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Client certificate and key.
    pub tls_client: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Require TLS.
    pub tls_required: bool,
}

impl ClusterSettings {
    /// The rows stream's name.
    pub fn stream_name(&self) -> String {
        format!("{}_rows", self.prefix.to_ascii_uppercase())
    }
}

/// How long a shutting-down node waits for its leases to be given up.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// The connection to JetStream and the applier's progress. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    /// The runtime the NATS client and the applier run on (actix's
    /// arbiters are single-threaded runtimes of their own).
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    client: async_nats::Client,
    settings: ClusterSettings,
    progress: watch::Receiver<Progress>,
    /// What other nodes wrote, for the bus (taken once).
    feed: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Applied>>>,
    /// The partitions this node drives.
    owned: watch::Receiver<leases::Owned>,
    /// The applier and lease tasks, ended by [`Replica::close`].
    tasks: Mutex<Option<Tasks>>,
    /// Tells the lease task to give its leases up (graceful shutdown).
    release: watch::Sender<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime inside another (actix) blocks; this does not.
        if let Some(rt) = self.rt.lock().unwrap_or_else(|p| p.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

impl Replica {
    /// Connect, make sure the stream exists, bring the cache in `db` up to
    /// date (wiping it first when it is stale or copies another stream),
    /// and keep applying. Resolves once the cache has caught up.
    pub(crate) async fn start(settings: ClusterSettings, db: &Arc<Db>) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hookbus-nats")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Cluster(format!("cannot start the NATS runtime: {e}")))?;
        let handle = rt.handle().clone();
        let weak = Arc::downgrade(db);
        let s = settings.clone();
        let started = handle
            .spawn(async move { connect_and_catch_up(s, weak).await })
            .await
            .map_err(|e| StoreError::Cluster(format!("NATS start-up task failed: {e}")))
            .and_then(|r| r);
        let (client, progress, feed, owned, tasks, release) = match started {
            Ok(s) => s,
            Err(e) => {
                // Dropping it here, inside actix's runtime, would panic.
                rt.shutdown_background();
                return Err(e);
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                rt: Mutex::new(Some(rt)),
                handle,
                client,
                settings,
                progress,
                feed: Mutex::new(Some(feed)),
                owned,
                tasks: Mutex::new(Some(tasks)),
                release,
            }),
        })
    }

    /// End the applier and the lease renewals and wait until they are gone.
    /// The applier holds the RocksDB cache while it writes a batch: left
    /// running on this runtime's thread (which outlives everything), it
    /// could close the database during the process's exit, when RocksDB's
    /// own statics are being destroyed (an abort, "pthread lock: Invalid
    /// argument"). The leases are given up first (within [`RELEASE_WAIT`];
    /// any not given up expire after `lease_ttl`).
    pub(crate) async fn close(&self) {
        let taken = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(Tasks {
            mut leases,
            applier,
        }) = taken
        else {
            return;
        };
        let _ = self.inner.release.send(true);
        if tokio::time::timeout(RELEASE_WAIT, &mut leases)
            .await
            .is_err()
        {
            leases.abort();
            let _ = leases.await;
        }
        applier.abort();
        // Cancelled (or already ended): either way it holds nothing now.
        let _ = applier.await;
    }

    /// The partitions this node drives, as they change.
    pub(crate) fn owned(&self) -> watch::Receiver<leases::Owned> {
        self.inner.owned.clone()
    }

    /// What other nodes write from now on (the first call only).
    pub(crate) fn take_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Applied>> {
        self.inner
            .feed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Is the client connected to a NATS server right now?
    pub(crate) fn connected(&self) -> bool {
        matches!(
            self.inner.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// The largest message the connected server takes.
    pub(crate) fn max_payload(&self) -> usize {
        self.inner.client.server_info().max_payload
    }

    /// The last stream sequence this node's cache has applied.
    pub(crate) fn applied(&self) -> u64 {
        self.inner.progress.borrow().seq
    }

    /// A committer sink writing through this replica.
    pub(crate) fn sink(&self) -> Box<dyn Sink> {
        Box::new(self.clone())
    }
}

impl Sink for Replica {
    /// Blocks the committer thread (never an actix one) until JetStream
    /// has the batches and the local cache has applied them.
    fn write(&mut self, units: &[&[Op]], _sync: bool) -> Result<(), String> {
        let s = &self.inner.settings;
        let batches = rows::batches(&s.prefix, units, rows::MAX_BATCH);
        if batches.is_empty() {
            return Ok(());
        }
        let client = self.inner.client.clone();
        let mut progress = self.inner.progress.clone();
        let (node, ttl, timeout) = (s.node.clone(), s.tombstone_ttl, s.timeout);
        self.inner.handle.block_on(async move {
            let mut last = 0;
            for b in &batches {
                last = batch::publish_retrying(&client, b, &node, ttl, timeout).await?;
            }
            // Read-your-writes: the writer's next read on this node sees it.
            tokio::time::timeout(timeout, progress.wait_for(|p| p.seq >= last))
                .await
                .map_err(|_| {
                    format!(
                        "written to JetStream (seq {last}) but not yet applied to this node's cache"
                    )
                })?
                .map_err(|_| "the cluster cache stopped".to_string())?;
            Ok(())
        })
    }
}
