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
mod rows;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use rocksdb::DB;
use tokio::sync::watch;

use super::StoreError;
use super::committer::Sink;
use super::op::Op;
pub use applier::Applied;
pub(crate) use applier::{Progress, applied_seq};
use batch::BatchError;
pub(crate) use rows::MAX_BATCH;

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

/// How long a starting node keeps asking JetStream for the rows stream
/// (through leader elections) before its start fails.
const START_PATIENCE: Duration = Duration::from_secs(30);

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
    pub(crate) async fn start(settings: ClusterSettings, db: &Arc<DB>) -> Result<Self, StoreError> {
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
                last = publish_retrying(&client, b, &node, ttl, timeout).await?;
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

/// Longest one try of a batch waits for JetStream's answer.
const TRY_TIMEOUT: Duration = Duration::from_secs(2);

/// Publish a batch, trying again while `timeout` allows when an answer does
/// not come (a stream leader lost with its server: the request went to it).
/// A batch holds whole rows with their final values, so storing it twice
/// rewrites the same rows; at worst (another node finished a delivery in
/// between) a delivery is queued again and sent twice, which at-least-once
/// allows, and never one is lost.
async fn publish_retrying(
    client: &async_nats::Client,
    msgs: &[rows::Msg],
    node: &str,
    ttl: Duration,
    timeout: Duration,
) -> Result<u64, String> {
    let started = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        let result = batch::publish(client, msgs, node, ttl, left.min(TRY_TIMEOUT)).await;
        let time_left = started.elapsed() + TRY_TIMEOUT / 4 < timeout;
        match result {
            Err(BatchError::NoAnswer(e)) if time_left => {
                tracing::debug!(error = %e, "JetStream did not answer in time; trying the batch again.");
            }
            // No stream leader right now: an election is under way.
            Err(BatchError::NoLeader(_)) if time_left => tokio::time::sleep(TRY_TIMEOUT / 4).await,
            other => return other.map_err(|e| e.to_string()),
        }
    }
}

async fn connect(s: &ClusterSettings) -> Result<async_nats::Client, StoreError> {
    let mut o = async_nats::ConnectOptions::new()
        .name(format!("hookbus {}", s.node))
        .connection_timeout(s.timeout)
        .request_timeout(Some(s.timeout))
        // Keep trying for ever once connected: NATS coming back must heal
        // the node without a restart (writes fail with 503 meanwhile).
        .max_reconnects(None)
        .require_tls(s.auth.tls_required);
    if let Some(path) = &s.auth.credentials_file {
        o = o
            .credentials_file(path)
            .await
            .map_err(|e| StoreError::Cluster(format!("cluster.credentials_file: {e}")))?;
    }
    if let Some(t) = &s.auth.token {
        o = o.token(t.clone());
    }
    if let Some((u, p)) = &s.auth.user_password {
        o = o.user_and_password(u.clone(), p.clone());
    }
    if let Some(ca) = &s.auth.tls_ca_file {
        o = o.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &s.auth.tls_client {
        o = o.add_client_certificate(cert.clone(), key.clone());
    }
    o.connect(s.urls.clone()).await.map_err(|e| {
        StoreError::Cluster(format!(
            "cannot connect to NATS at {}: {e}",
            s.urls.join(", ")
        ))
    })
}

/// What start-up hands the replica: the client, the applier's progress and
/// its feed.
type Started = (
    async_nats::Client,
    watch::Receiver<Progress>,
    tokio::sync::mpsc::UnboundedReceiver<Applied>,
    watch::Receiver<leases::Owned>,
    Tasks,
    watch::Sender<bool>,
);

/// The tasks a node runs on the NATS runtime.
struct Tasks {
    /// Lease renewals; told to give its leases up before it ends.
    leases: tokio::task::JoinHandle<()>,
    /// The cache applier; holds RocksDB while it writes a batch.
    applier: tokio::task::JoinHandle<()>,
}

async fn connect_and_catch_up(s: ClusterSettings, db: Weak<DB>) -> Result<Started, StoreError> {
    let client = connect(&s).await?;
    let js = jetstream::new(client.clone());
    let cfg = stream::Config {
        name: s.stream_name(),
        subjects: vec![rows::stream_subjects(&s.prefix)],
        max_messages_per_subject: 1,
        num_replicas: s.replicas,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        allow_atomic_publish: true,
        allow_message_ttl: true,
        allow_direct: true,
        ..Default::default()
    };
    // Connected, but JetStream may be electing a stream or meta leader (a
    // server just restarted, say): keep asking for a while instead of
    // failing the node's start on the first timeout.
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let (rows_stream, info) = loop {
        let opened = async {
            let mut st = js
                .get_or_create_stream(cfg.clone())
                .await
                .map_err(|e| format!("cannot create or open the rows stream: {e}"))?;
            let info = st
                .info()
                .await
                .map_err(|e| format!("rows stream info: {e}"))?
                .clone();
            Ok::<_, String>((st, info))
        };
        match opened.await {
            Ok(ok) => break ok,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "JetStream not answering yet; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(StoreError::Cluster(e)),
        }
    };
    if info.config.num_replicas != s.replicas {
        tracing::warn!(
            stream = %info.config.name, has = info.config.num_replicas, configured = s.replicas,
            "The rows stream exists with another replica count; keeping the stream's."
        );
    }
    let identity = format!(
        "{} {}",
        info.config.name,
        info.created.unix_timestamp_nanos()
    );
    let last = info.state.last_sequence;
    let applied = {
        let db = db
            .upgrade()
            .ok_or_else(|| StoreError::Cluster("the store closed during start-up".into()))?;
        let stale = cache::stale(&db, &identity, last, s.tombstone_ttl)?;
        if let Some(why) = stale {
            tracing::info!(
                why,
                "Cluster cache: rebuilding this node's cache from the rows stream."
            );
        }
        cache::adopt(&db, &identity, stale.is_some())?;
        applied_seq(&db)
    };
    let (tx, mut rx) = watch::channel(Progress {
        seq: applied,
        caught_up: info.state.messages == 0 || applied >= last,
    });
    let (feed_tx, feed_rx) = tokio::sync::mpsc::unbounded_channel();
    let feed = applier::Feed {
        node: s.node.clone(),
        tx: feed_tx,
    };
    let applier = tokio::spawn(applier::run(rows_stream, s.prefix.clone(), db, tx, feed));
    rx.wait_for(|p| p.caught_up)
        .await
        .map_err(|_| StoreError::Cluster("the cluster cache stopped during start-up".into()))?;
    tracing::info!(applied = rx.borrow().seq, "Cluster cache up to date.");
    let (owned_tx, owned_rx) = watch::channel(leases::Owned {
        partitions: s.partitions,
        ..Default::default()
    });
    let (release_tx, release_rx) = watch::channel(false);
    let leases = tokio::spawn(leases::run(
        js,
        s.clone(),
        s.partitions,
        s.lease_ttl,
        owned_tx,
        release_rx,
    ));
    // Start driving what this node can hold before the engine starts, so
    // its first publishes are not handed to actors that are about to be
    // told they drive (a node that gets nothing still settles in a round).
    let mut first = owned_rx.clone();
    let _ = tokio::time::timeout(s.lease_ttl, first.wait_for(|o| o.settled)).await;
    Ok((
        client,
        rx,
        feed_rx,
        owned_rx,
        Tasks { leases, applier },
        release_tx,
    ))
}
