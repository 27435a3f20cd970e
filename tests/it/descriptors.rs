//! File descriptors: publishers' connections must never take the ones the
//! store needs (a RocksDB that cannot open its next WAL or SST file fails
//! writes and flushes), and `hookbus serve` raises its soft limit.

use std::time::Duration;

use serde_json::json;

use crate::utils::*;

/// Descriptors `pid` has open now.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The soft and hard `Max open files` of `pid`.
fn descriptor_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

#[actix_web::test]
async fn a_flood_of_idle_connections_leaves_the_store_its_descriptors() {
    let rx = TestReceiver::start(200);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::write(dir.path(), &patient_endpoint("receiver", &rx.url, "200ms"));
    let child = Running(server.spawn_with_rlimit(libc::RLIMIT_NOFILE, 256, 256));
    wait_healthy(&server.base).await;
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    // More connections than the process may open: past its cap the rest
    // wait in the listen backlog, unaccepted.
    let mut idle = Vec::new();
    for _ in 0..400 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    assert!(idle.len() > 256, "only {} connections opened", idle.len());
    let mut most = 0;
    for _ in 0..10 {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        most = most.max(open_descriptors(child.id()));
    }
    // Half of 256 is left to the store and the deliveries (server::max_connections).
    assert!(
        most <= 256 - 64,
        "the server took {most} of its 256 descriptors for {} idle connections",
        idle.len()
    );
    drop(idle);
    let resp = awc::Client::new()
        .post(format!("{}/v1/events", server.base))
        .timeout(Duration::from_secs(15))
        .send_json(&json!({"type": "order.created", "data": {"id": 1}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    rx.wait_for(1, Duration::from_secs(10)).await;
    drop(child);
}

#[actix_web::test]
async fn serve_raises_its_soft_descriptor_limit_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::write(dir.path(), "");
    let child = Running(server.spawn_with_rlimit(libc::RLIMIT_NOFILE, 256, 512));
    wait_healthy(&server.base).await;
    assert_eq!(descriptor_limits(child.id()), (512, 512));
}
