//! A node's start in cluster mode: connect to NATS, open (or create) the
//! rows stream, bring this node's cache up to date, and start the applier
//! and the lease renewals.

use std::sync::Weak;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::watch;

use super::super::lifetime::Db;
use super::applier::{self, Progress, applied_seq};
use super::notes::Applied;
use super::{ClusterSettings, cache, leases, rows};
use crate::store::StoreError;

/// How long a starting node keeps asking JetStream for the rows stream
/// (through leader elections) before its start fails.
const START_PATIENCE: Duration = Duration::from_secs(30);

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
pub(super) type Started = (
    async_nats::Client,
    watch::Receiver<Progress>,
    tokio::sync::mpsc::UnboundedReceiver<Applied>,
    watch::Receiver<leases::Owned>,
    Tasks,
    watch::Sender<bool>,
);

/// The tasks a node runs on the NATS runtime.
pub(super) struct Tasks {
    /// Lease renewals; told to give its leases up before it ends.
    pub(super) leases: tokio::task::JoinHandle<()>,
    /// The cache applier; holds RocksDB while it writes a batch.
    pub(super) applier: tokio::task::JoinHandle<()>,
}

pub(super) async fn connect_and_catch_up(
    s: ClusterSettings,
    db: Weak<Db>,
) -> Result<Started, StoreError> {
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
