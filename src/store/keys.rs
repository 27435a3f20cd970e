//! Key encodings. Composite keys join parts with a 0 byte, which ids never contain.

/// `queue` key: endpoint id ‖ 0 ‖ ticket (big-endian, so byte order is ticket order).
pub fn queue(endpoint_id: &str, ticket: u128) -> Vec<u8> {
    let mut k = prefix(endpoint_id);
    k.extend_from_slice(&ticket.to_be_bytes());
    k
}

/// The ticket inside a `queue` key.
pub fn queue_ticket(key: &[u8]) -> Option<u128> {
    let tail: [u8; 16] = key.get(key.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(u128::from_be_bytes(tail))
}

/// The endpoint id and ticket of a `queue` key.
pub fn split_queue(key: &[u8]) -> Option<(&str, u128)> {
    let id_len = key.len().checked_sub(17)?;
    if key.get(id_len) != Some(&0) {
        return None;
    }
    Some((
        std::str::from_utf8(&key[..id_len]).ok()?,
        queue_ticket(key)?,
    ))
}

/// `endpoint id ‖ 0`: the prefix of an endpoint's `queue` and `endpoint_deliveries` rows.
pub fn prefix(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 17);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// `attempts` key: delivery id ‖ 0 ‖ attempt number (big-endian).
pub fn attempt(delivery_id: &str, n: u32) -> Vec<u8> {
    let mut k = prefix(delivery_id);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `endpoint_deliveries` key: endpoint id ‖ 0 ‖ delivery id.
pub fn endpoint_delivery(endpoint_id: &str, delivery_id: &str) -> Vec<u8> {
    let mut k = prefix(endpoint_id);
    k.extend_from_slice(delivery_id.as_bytes());
    k
}

/// `dead_by_endpoint` key: endpoint id ‖ 0 ‖ delivery id (value: dead_at, big-endian).
pub fn dead_by_endpoint(endpoint_id: &str, delivery_id: &str) -> Vec<u8> {
    endpoint_delivery(endpoint_id, delivery_id)
}

/// `dead_by_time` key: dead_at (big-endian ms) ‖ delivery id (value: endpoint id).
pub fn dead_by_time(dead_at: u64, delivery_id: &str) -> Vec<u8> {
    timed(dead_at, delivery_id)
}

/// `events_by_time` key: accepted_ms (big-endian) ‖ event id.
pub fn event_by_time(accepted_ms: u64, event_id: &str) -> Vec<u8> {
    timed(accepted_ms, event_id)
}

/// The time and id inside a `dead_by_time` or `events_by_time` key.
pub fn split_timed(key: &[u8]) -> Option<(u64, &str)> {
    let at = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    Some((at, std::str::from_utf8(key.get(8..)?).ok()?))
}

/// `meta` row of a cluster node's cache: the last stream sequence applied
/// (big-endian u64). Local to the node; never replicated.
pub const REPLICA_APPLIED: &[u8] = b"replica.applied";
/// `meta` row: when the cache last applied a batch (ms since the epoch, big-endian).
pub const REPLICA_APPLIED_MS: &[u8] = b"replica.applied_ms";
/// `meta` row: which stream the cache copies (its name and creation time),
/// so a cache of a deleted and recreated stream is rebuilt, not trusted.
pub const REPLICA_STREAM: &[u8] = b"replica.stream";

fn timed(at: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_sort_by_ticket_within_an_endpoint() {
        let a = queue("ep_1", 5);
        let b = queue("ep_1", 1 << 70);
        assert!(a < b);
        assert!(a.starts_with(&prefix("ep_1")));
        assert!(!queue("ep_10", 0).starts_with(&prefix("ep_1")));
        assert_eq!(queue_ticket(&b), Some(1 << 70));
        assert_eq!(split_queue(&b), Some(("ep_1", 1 << 70)));
        assert_eq!(split_queue(b"short"), None);
    }

    #[test]
    fn timed_keys_sort_by_time_then_id_and_split_back() {
        assert!(dead_by_time(9, "dlv_b") < dead_by_time(10, "dlv_a"));
        assert!(event_by_time(10, "evt_a") < event_by_time(10, "evt_b"));
        assert_eq!(split_timed(&dead_by_time(42, "dlv_x")), Some((42, "dlv_x")));
    }

    #[test]
    fn attempt_keys_sort_numerically() {
        assert!(attempt("dlv_a", 2) < attempt("dlv_a", 10));
    }
}
