//! Partition leases: which node drives which endpoints.
//!
//! Endpoints fall into `partitions` by a hash of their id. Each partition has
//! a key `p<N>` in the KV bucket `<PREFIX>_leases`, whose entries expire
//! `lease_ttl` after their last write. A node acquires a free partition with
//! a create (refused while the key exists), keeps it by updating it with the
//! revision it holds every `lease_ttl / 3` (refused once anyone else wrote
//! it), and lets it expire to give it up.
//!
//! Fencing: a node counts a partition as its own only while its last
//! successful renewal is younger than `2/3 × lease_ttl`, measured from when
//! the renewal was *sent*; the server forgets the key `lease_ttl` after it
//! *stored* it, later still. So a node that cannot renew (partitioned, NATS
//! down, paused) stops driving a partition at least `lease_ttl / 3` (less
//! one fence tick, `lease_ttl / 20`) before another node can acquire it.
//! The fence is its own timer, not the end of a renewal round: with NATS
//! unreachable a round waits out one request timeout per lease it renews.
//! Endpoint actors cancel their attempts in flight when they stop driving,
//! so none outlives the lease either.
//!
//! A restarted node (same `node_name`) takes back the leases its previous
//! process held instead of waiting for them to expire; two live processes
//! must therefore never share a node name.
//!
//! Fair share: every node heartbeats its name in `<PREFIX>_nodes` (same TTL);
//! a node wants `ceil(partitions / live nodes)` partitions, acquires free
//! ones up to that, and lets those beyond it expire, so a joining node gets
//! its share within about one TTL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::ClusterSettings;
use crate::store::StoreError;

/// The partition an endpoint id falls in (FNV-1a: stable across versions
/// and machines, unlike std's hasher).
pub fn partition_of(endpoint_id: &str, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in endpoint_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// The partitions a node drives right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Partitions in the cluster.
    pub partitions: u32,
    /// Those this node holds a fresh lease on.
    pub mine: BTreeSet<u32>,
    /// Nodes alive (heartbeating) at the last look.
    pub live_nodes: usize,
    /// A first round of renewals and acquisitions has run.
    pub settled: bool,
}

impl Owned {
    /// Does this node run the cluster-wide chores (the retention sweep)?
    /// The holder of partition 0 does: one node at a time, and another as
    /// soon as that partition moves.
    pub fn runs_chores(&self) -> bool {
        self.mine.contains(&0)
    }

    /// Does this node drive `endpoint_id`?
    pub fn drives(&self, endpoint_id: &str) -> bool {
        self.mine
            .contains(&partition_of(endpoint_id, self.partitions))
    }
}

/// How many partitions one of `live` nodes should hold.
pub fn fair_share(partitions: u32, live: usize) -> usize {
    (partitions as usize).div_ceil(live.max(1))
}

/// Which held partitions count as owned `now`: renewed (sent) within
/// `2/3 × ttl`.
pub fn fresh(held: &BTreeMap<u32, (u64, Instant)>, now: Instant, ttl: Duration) -> BTreeSet<u32> {
    held.iter()
        .filter(|(_, (_, sent))| now.saturating_duration_since(*sent) < ttl * 2 / 3)
        .map(|(p, _)| *p)
        .collect()
}

async fn bucket(
    js: &jetstream::Context,
    name: String,
    s: &ClusterSettings,
    ttl: Duration,
) -> Result<kv::Store, StoreError> {
    if let Ok(b) = js.get_key_value(&name).await {
        return Ok(b);
    }
    js.create_key_value(kv::Config {
        bucket: name.clone(),
        history: 1,
        max_age: ttl,
        num_replicas: s.replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| StoreError::Cluster(format!("cannot create the KV bucket {name}: {e}")))
}

/// What the renewal rounds and the fence share: the leases held, with the
/// revision and the time each renewal was sent, and the last count of live
/// nodes. A std mutex: it is never held across an await.
#[derive(Default)]
struct Held {
    leases: BTreeMap<u32, (u64, Instant)>,
    live: usize,
    settled: bool,
}

impl Held {
    fn owned(&self, partitions: u32, ttl: Duration) -> Owned {
        Owned {
            partitions,
            mine: fresh(&self.leases, Instant::now(), ttl),
            live_nodes: self.live.max(1),
            settled: self.settled,
        }
    }
}

/// How often the fence looks at the leases' age, independent of the
/// renewal rounds: a round can stall for many request timeouts while NATS
/// is unreachable, and fencing must not wait for it.
pub fn fence_tick(ttl: Duration) -> Duration {
    (ttl / 20).max(Duration::from_millis(10))
}

/// Keep leases for this node for as long as the runtime runs, publishing
/// the partitions it drives on `tx`.
pub(crate) async fn run(
    js: jetstream::Context,
    s: ClusterSettings,
    partitions: u32,
    ttl: Duration,
    tx: watch::Sender<Owned>,
    mut stop: watch::Receiver<bool>,
) {
    let prefix = s.prefix.to_ascii_uppercase();
    let (leases, nodes) = loop {
        let made = async {
            let l = bucket(&js, format!("{prefix}_leases"), &s, ttl).await?;
            let n = bucket(&js, format!("{prefix}_nodes"), &s, ttl).await?;
            Ok::<_, StoreError>((l, n))
        };
        tokio::select! {
            made = made => match made {
                Ok(b) => break b,
                Err(e) => {
                    tracing::warn!(error = %e, "Cluster leases: cannot open the buckets; retrying.");
                    tokio::time::sleep(ttl / 3).await;
                }
            },
            _ = stop.changed() => return,
        }
    };
    let node = s.node.clone();
    let held = Mutex::new(Held {
        live: 1,
        ..Held::default()
    });
    let publish = || {
        let owned = lock(&held).owned(partitions, ttl);
        if !owned.settled {
            return;
        }
        tx.send_if_modified(|cur| {
            let changed = *cur != owned;
            *cur = owned;
            changed
        });
    };
    let rounds = async {
        loop {
            let next = Instant::now() + ttl / 3;
            round(&leases, &nodes, &node, partitions, &held).await;
            lock(&held).settled = true;
            publish();
            tokio::time::sleep_until(next.into()).await;
        }
    };
    let fence = async {
        let mut tick = tokio::time::interval(fence_tick(ttl));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            publish();
        }
    };
    tokio::select! {
        () = rounds => {}
        () = fence => {}
        _ = stop.changed() => {}
    }
    // Stop driving first, then hand the partitions over.
    tx.send_modify(|o| o.mine.clear());
    let leases_held = std::mem::take(&mut lock(&held).leases);
    release(&leases, &nodes, &node, &leases_held).await;
}

fn lock(held: &Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One renewal round: heartbeat, count live nodes, renew what is held
/// within the fair share (letting the rest expire), acquire free
/// partitions up to it.
async fn round(
    leases: &kv::Store,
    nodes: &kv::Store,
    node: &str,
    partitions: u32,
    held: &Mutex<Held>,
) {
    // Start the search for free partitions where this node's name hashes
    // to, so nodes starting together do not all race for p0.
    let start = partition_of(node, partitions);
    if nodes.put(node, node.to_owned().into()).await.is_ok() {
        if let Ok(mut keys) = nodes.keys().await {
            let mut n = 0;
            while let Some(Ok(_)) = keys.next().await {
                n += 1;
            }
            lock(held).live = n.max(1);
        }
    }
    let want = fair_share(partitions, lock(held).live);
    let keep: Vec<(u32, u64)> = {
        let mut h = lock(held);
        let keep: Vec<(u32, u64)> = h
            .leases
            .iter()
            .take(want)
            .map(|(p, (r, _))| (*p, *r))
            .collect();
        h.leases.retain(|p, _| keep.iter().any(|(k, _)| k == p));
        keep
    };
    for (p, rev) in keep {
        let sent = Instant::now();
        match leases
            .update(format!("p{p}"), node.to_owned().into(), rev)
            .await
        {
            Ok(rev) => {
                lock(held).leases.insert(p, (rev, sent));
            }
            Err(e) if is_conflict(&e) => {
                tracing::warn!(partition = p, "Cluster lease lost to another node.");
                lock(held).leases.remove(&p);
            }
            // NATS unreachable: keep the old renewal time; the fence acts.
            Err(_) => {}
        }
    }
    for i in 0..partitions {
        if lock(held).leases.len() >= want {
            break;
        }
        let p = (start + i) % partitions;
        if lock(held).leases.contains_key(&p) {
            continue;
        }
        let sent = Instant::now();
        let key = format!("p{p}");
        if let Ok(rev) = leases.create(&key, node.to_owned().into()).await {
            lock(held).leases.insert(p, (rev, sent));
            continue;
        }
        // Held under this node's name by its previous process (a
        // restart): take it back rather than wait for it to expire.
        if let Ok(Some(e)) = leases.entry(&key).await {
            if e.operation == kv::Operation::Put && e.value.as_ref() == node.as_bytes() {
                if let Ok(rev) = leases
                    .update(&key, node.to_owned().into(), e.revision)
                    .await
                {
                    lock(held).leases.insert(p, (rev, sent));
                }
            }
        }
    }
}

/// A node shutting down gives its leases and heartbeat up at once (each
/// only if nobody wrote it since), so the others take its partitions over
/// within one renewal round instead of after `lease_ttl`.
async fn release(
    leases: &kv::Store,
    nodes: &kv::Store,
    node: &str,
    held: &BTreeMap<u32, (u64, Instant)>,
) {
    for (p, (rev, _)) in held {
        if let Err(e) = leases
            .delete_expect_revision(format!("p{p}"), Some(*rev))
            .await
        {
            tracing::debug!(partition = p, error = %e, "Cluster lease not released; it will expire.");
        }
    }
    let _ = nodes.delete(node).await;
    tracing::info!(partitions = held.len(), "Cluster leases released.");
}

fn is_conflict(e: &kv::UpdateError) -> bool {
    matches!(e.kind(), kv::UpdateErrorKind::WrongLastRevision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(partition_of("ep_01", 64), partition_of("ep_01", 64));
        let mut seen = BTreeSet::new();
        for i in 0..1000 {
            let p = partition_of(&format!("ep_{i}"), 64);
            assert!(p < 64);
            seen.insert(p);
        }
        assert_eq!(seen.len(), 64, "1000 ids reach every partition");
        assert_eq!(partition_of("x", 1), 0);
    }

    #[test]
    fn a_node_wants_its_fair_share() {
        assert_eq!(fair_share(64, 1), 64);
        assert_eq!(fair_share(64, 3), 22);
        assert_eq!(fair_share(64, 0), 64);
    }

    #[test]
    fn a_lease_not_renewed_for_two_thirds_of_its_ttl_is_no_longer_driven() {
        let ttl = Duration::from_secs(6);
        let t0 = Instant::now();
        let held = BTreeMap::from([(1, (7, t0)), (2, (9, t0 + Duration::from_secs(3)))]);
        assert_eq!(
            fresh(&held, t0 + Duration::from_secs(3), ttl),
            BTreeSet::from([1, 2])
        );
        // 4 s after its renewal was sent, partition 1 is fenced; 2 is not.
        assert_eq!(
            fresh(&held, t0 + Duration::from_secs(4), ttl),
            BTreeSet::from([2])
        );
        let owned = Owned {
            partitions: 64,
            mine: BTreeSet::from([partition_of("ep_a", 64)]),
            live_nodes: 1,
            settled: true,
        };
        assert!(owned.drives("ep_a"));
    }

    #[test]
    fn only_the_holder_of_partition_zero_runs_the_retention_sweep() {
        let mut owned = Owned {
            partitions: 4,
            mine: BTreeSet::from([1, 2]),
            live_nodes: 2,
            settled: true,
        };
        assert!(!owned.runs_chores());
        owned.mine.insert(0);
        assert!(owned.runs_chores());
    }
}
