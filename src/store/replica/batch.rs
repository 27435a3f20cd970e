//! Publishing one atomic batch to the rows stream (JetStream's atomic batch
//! publish, nats-server 2.12+): every message carries `Nats-Batch-Id` and its
//! `Nats-Batch-Sequence`; the last one also `Nats-Batch-Commit`, and only it
//! is answered. The stream stores all of them or none, and its answer comes
//! once the batch is replicated (R = the stream's replicas).

use std::time::Duration;

use async_nats::{Client, HeaderMap};
use serde::Deserialize;

use super::rows::{DELETED, END, Msg, ROWS};

/// The stream's answer to a commit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Answer {
    Err { error: ApiError },
    Ok { seq: u64 },
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    err_code: u16,
    #[serde(default)]
    description: String,
}

/// Why a batch was not stored, as far as the writer can tell.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// No answer in time: the request may have reached a stream leader that
    /// is gone (the batch may or may not be stored).
    NoAnswer(String),
    /// Nobody serves the stream right now (a leader election).
    NoLeader(String),
    /// Refused, or failed for a reason trying again will not mend.
    Failed(String),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::NoAnswer(m) | BatchError::NoLeader(m) | BatchError::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

/// Publish `msgs` as one atomic batch; the stream sequence of its last
/// message once JetStream has stored (and replicated) it.
pub(crate) async fn publish(
    client: &Client,
    msgs: &[Msg],
    node: &str,
    tombstone_ttl: Duration,
    timeout: Duration,
) -> Result<u64, BatchError> {
    let Some(last) = msgs.len().checked_sub(1) else {
        return Err(BatchError::Failed("an empty batch".into()));
    };
    let id = ulid::Ulid::new().to_string();
    let ttl = format!("{}s", tombstone_ttl.as_secs().max(1));
    let headers = |i: usize, m: &Msg| {
        let mut h = HeaderMap::new();
        h.insert("Nats-Batch-Id", id.as_str());
        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        if m.deleted {
            h.insert(DELETED, "1");
            h.insert("Nats-TTL", ttl.as_str());
        }
        h
    };
    for (i, m) in msgs[..last].iter().enumerate() {
        client
            .publish_with_headers(m.subject.clone(), headers(i, m), m.payload.clone())
            .await
            .map_err(|e| BatchError::Failed(format!("NATS publish: {e}")))?;
    }
    let m = &msgs[last];
    let mut h = headers(last, m);
    h.insert(END, node);
    h.insert(ROWS, msgs.len().to_string().as_str());
    h.insert("Nats-Batch-Commit", "1");
    let request = async_nats::Request::new()
        .headers(h)
        .payload(m.payload.clone())
        .timeout(Some(timeout));
    let reply = client
        .send_request(m.subject.clone(), request)
        .await
        .map_err(|e| {
            let msg = format!("JetStream did not acknowledge the write: {e}");
            match e.kind() {
                async_nats::RequestErrorKind::TimedOut => BatchError::NoAnswer(msg),
                async_nats::RequestErrorKind::NoResponders => BatchError::NoLeader(msg),
                _ => BatchError::Failed(msg),
            }
        })?;
    match serde_json::from_slice::<Answer>(&reply.payload) {
        Ok(Answer::Ok { seq }) => Ok(seq),
        Ok(Answer::Err { error }) => Err(BatchError::Failed(format!(
            "JetStream refused the write: {} (code {}, err_code {})",
            error.description, error.code, error.err_code
        ))),
        Err(e) => Err(BatchError::Failed(format!(
            "unreadable JetStream answer ({e}): {}",
            String::from_utf8_lossy(&reply.payload)
        ))),
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
pub(super) async fn publish_retrying(
    client: &Client,
    msgs: &[Msg],
    node: &str,
    ttl: Duration,
    timeout: Duration,
) -> Result<u64, String> {
    let started = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        let result = publish(client, msgs, node, ttl, left.min(TRY_TIMEOUT)).await;
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
