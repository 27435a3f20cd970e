//! Every metric name hookbus emits, in one place (DESIGN.md "Metrics").

/// Counter `{kind}`: events accepted by publish (`user`) or made by the engine (`operational`).
pub const EVENTS_PUBLISHED: &str = "hookbus_events_published_total";
/// Counter `{endpoint,outcome}`: finished deliveries (success, failed, dead, filtered).
pub const DELIVERIES: &str = "hookbus_deliveries_total";
/// Counter `{endpoint}`: matched events the endpoint's `filter` turned away (no delivery made).
pub const EVENTS_FILTERED_OUT: &str = "hookbus_events_filtered_out_total";
/// Counter `{reason}`: publishes refused (`backlog`: push-back, `rate_limit`: an application's limit).
pub const PUBLISH_REFUSED: &str = "hookbus_publish_refused_total";
/// Every `reason` label of [`PUBLISH_REFUSED`].
pub const REFUSALS: &[&str] = &["backlog", "rate_limit"];
/// Counter `{endpoint,result}`: attempts by result (2xx, 3xx, 4xx, 5xx, timeout, connect_error).
pub const DELIVERY_ATTEMPTS: &str = "hookbus_delivery_attempts_total";
/// Histogram `{endpoint}`: attempt duration, seconds.
pub const DELIVERY_DURATION: &str = "hookbus_delivery_duration_seconds";
/// Histogram `{endpoint}`: publish acceptance to successful delivery, seconds.
pub const END_TO_END_LATENCY: &str = "hookbus_end_to_end_latency_seconds";
/// Gauge `{endpoint}`: deliveries waiting (memory and store).
pub const QUEUE_DEPTH: &str = "hookbus_queue_depth";
/// Gauge `{endpoint}`: dead letters.
pub const DEAD_LETTERS: &str = "hookbus_dead_letters";
/// Gauge `{endpoint}`: 0 closed, 1 half-open, 2 open.
pub const CIRCUIT_STATE: &str = "hookbus_circuit_state";
/// Gauge `{endpoint}`: 0 active, 1 paused, 2 disabled.
pub const ENDPOINT_STATUS: &str = "hookbus_endpoint_status";
/// Histogram: transform run time, seconds.
pub const TRANSFORM_DURATION: &str = "hookbus_transform_duration_seconds";
/// Counter `{endpoint}`: transform failures.
pub const TRANSFORM_ERRORS: &str = "hookbus_transform_errors_total";
/// Histogram: one group commit (write + fsync), seconds.
pub const STORE_COMMIT_DURATION: &str = "hookbus_store_commit_duration_seconds";
/// Gauge `{endpoint}`: attempts in flight (rendered from the engine's state).
pub const IN_FLIGHT: &str = "hookbus_in_flight";
/// Gauge `{endpoint}`: age of the oldest undelivered delivery, seconds (rendered at scrape).
pub const OLDEST_PENDING: &str = "hookbus_oldest_pending_seconds";
/// Gauge: 1 while the store's latest write succeeded, 0 after a failure (disk full, I/O error).
pub const STORE_WRITABLE: &str = "hookbus_store_writable";
/// Gauge (cluster mode): 1 while connected to a NATS server, 0 while not.
pub const CLUSTER_NATS_CONNECTED: &str = "hookbus_cluster_nats_connected";
/// Gauge (cluster mode): partitions in the cluster.
pub const CLUSTER_PARTITIONS: &str = "hookbus_cluster_partitions";
/// Gauge (cluster mode): partitions this node holds a fresh lease on (drives).
pub const CLUSTER_PARTITIONS_OWNED: &str = "hookbus_cluster_partitions_owned";
/// Gauge (cluster mode): nodes heartbeating at this node's last look.
pub const CLUSTER_LIVE_NODES: &str = "hookbus_cluster_live_nodes";
/// Gauge (cluster mode): the rows stream's sequence this node's cache has applied.
pub const CLUSTER_APPLIED_SEQUENCE: &str = "hookbus_cluster_applied_sequence";
/// Gauge `{version}`: always 1.
pub const BUILD_INFO: &str = "hookbus_build_info";

/// Every `outcome` label of [`DELIVERIES`].
pub const OUTCOMES: &[&str] = &["success", "failed", "dead", "filtered"];
/// Every `result` label of [`DELIVERY_ATTEMPTS`].
pub const RESULTS: &[&str] = &[
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "timeout",
    "connect_error",
    "refused",
];
/// Every `kind` label of [`EVENTS_PUBLISHED`].
pub const EVENT_KINDS: &[&str] = &["user", "operational"];
