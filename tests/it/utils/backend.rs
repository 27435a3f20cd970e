//! Which storage backend the shared behaviour tests run on.
//!
//! `HOOKBUS_TEST_BACKEND=jetstream` gives every engine made by
//! [`test_config`](super::test_config) a `[cluster]` section on one 3-node
//! NATS JetStream cluster, started once for the test process (its servers
//! die with it) — each engine with its own stream prefix, so tests never see
//! each other's rows. Unset (or `embedded`), engines run on RocksDB alone.
//! The same tests, unchanged, so both backends are held to one behaviour:
//!
//! ```sh
//! HOOKBUS_TEST_BACKEND=jetstream cargo test --test it -- delivery:: policy:: guarantees::
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookbus::Config;
use hookbus::config::ClusterConfig;

use super::NatsCluster;

/// base64 of 32 bytes: the nodes of one cluster share a master key.
pub const CLUSTER_MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// Whether this test run uses the JetStream backend.
pub fn on_jetstream() -> bool {
    std::env::var("HOOKBUS_TEST_BACKEND").is_ok_and(|v| v == "jetstream")
}

/// The process-wide NATS cluster's URLs (started on first use by a thread
/// that never ends, so the servers' parent-death signal fires only when the
/// test process exits).
fn shared_nats() -> &'static Vec<String> {
    static URLS: OnceLock<Vec<String>> = OnceLock::new();
    URLS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let cluster = rt.block_on(NatsCluster::start(3));
            tx.send(cluster.urls()).unwrap();
            // Keep the servers (and this thread, their parent) for the
            // whole test process.
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the shared NATS cluster started")
    })
}

/// On the JetStream backend, put `cfg` on the shared cluster.
pub fn apply(cfg: &mut Config) {
    if !on_jetstream() {
        return;
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    cfg.storage.master_key = Some(CLUSTER_MASTER_KEY.into());
    cfg.cluster = Some(ClusterConfig {
        nats_urls: shared_nats().clone(),
        node_name: format!("t{n}"),
        replicas: 3,
        partitions: 1,
        prefix: format!("t{}x{n}", std::process::id()),
        // Many engines create their streams at once on two cores.
        connect_timeout: hookbus::model::Dur::secs(15),
        ..Default::default()
    });
}
