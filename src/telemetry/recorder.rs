//! Opt-in Prometheus recorder: real histogram buckets, HELP text, upkeep.
//! The library never calls this on its own; the binary (via [`crate::run`]) or
//! an embedding host does.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::names;

/// Buckets for delivery attempts and end-to-end latency, in seconds: the
/// Prometheus default ladder extended to cover the request timeout.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets for store commits and transforms, in seconds (sub-millisecond resolution).
pub const FAST_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A recorder configured for hookbus's metrics (not installed).
pub fn build() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(names::DELIVERY_DURATION.into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(names::END_TO_END_LATENCY.into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(names::STORE_COMMIT_DURATION.into()),
            FAST_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(names::TRANSFORM_DURATION.into()),
            FAST_BUCKETS,
        )?
        .build_recorder())
}

/// Build, install as the global recorder, and describe every metric.
/// Fails if a global recorder is already installed.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let recorder = build()?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(BuildError::FailedToSetGlobalRecorder)?;
    describe();
    Ok(handle)
}

/// Register HELP text and units (call once after a recorder is in place).
pub fn describe() {
    describe_counter!(
        names::EVENTS_PUBLISHED,
        Unit::Count,
        "Events accepted and made durable."
    );
    describe_counter!(
        names::DELIVERIES,
        Unit::Count,
        "Delivery outcomes: success, failed (retry scheduled), dead, filtered."
    );
    describe_counter!(
        names::DELIVERY_ATTEMPTS,
        Unit::Count,
        "HTTP attempts by result: 2xx, 3xx, 4xx, 5xx, timeout, connect_error."
    );
    describe_histogram!(
        names::DELIVERY_DURATION,
        Unit::Seconds,
        "Duration of one delivery attempt."
    );
    describe_histogram!(
        names::END_TO_END_LATENCY,
        Unit::Seconds,
        "Time from publish acceptance to successful delivery."
    );
    describe_gauge!(
        names::QUEUE_DEPTH,
        Unit::Count,
        "Deliveries waiting for an endpoint (memory and store)."
    );
    describe_gauge!(
        names::DEAD_LETTERS,
        Unit::Count,
        "Dead letters held for an endpoint."
    );
    describe_gauge!(
        names::CIRCUIT_STATE,
        "Circuit breaker state: 0 closed, 1 half-open, 2 open."
    );
    describe_gauge!(
        names::ENDPOINT_STATUS,
        "Endpoint status: 0 active, 1 paused, 2 disabled."
    );
    describe_histogram!(
        names::TRANSFORM_DURATION,
        Unit::Seconds,
        "Duration of one transform run."
    );
    describe_counter!(
        names::TRANSFORM_ERRORS,
        Unit::Count,
        "Transform runs that failed."
    );
    describe_counter!(
        names::PUBLISH_REFUSED,
        Unit::Count,
        "Publishes refused before anything was acknowledged (backlog push-back, an application's rate limit)."
    );
    describe_counter!(
        names::EVENTS_FILTERED_OUT,
        Unit::Count,
        "Matched events the endpoint's payload filter turned away (no delivery made)."
    );
    describe_histogram!(
        names::STORE_COMMIT_DURATION,
        Unit::Seconds,
        "Duration of one group commit (write and fsync)."
    );
}
