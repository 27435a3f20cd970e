//! [`run`]: the `hookbus serve` server — an engine, its HTTP API, and the
//! Prometheus upkeep, until a shutdown signal.

use std::future::Future;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{App, HttpMessage, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use crate::config::Config;
use crate::hub::{Error, Hookbus};

/// How often the Prometheus exporter's upkeep (histogram bucket expiry) runs.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Run the engine and its HTTP server until `shutdown` resolves (or the server fails).
///
/// `metrics`: a handle from an installed recorder (see
/// [`crate::telemetry::recorder::install`]) to serve at `/metrics`; the
/// caller decides whether a global recorder is installed.
pub async fn run(
    config: Config,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let hub = Hookbus::start(config).await?;
    if let Some(handle) = metrics {
        hub.attach_metrics(handle.clone());
        actix_rt::spawn(async move {
            let mut tick = actix_rt::time::interval(METRICS_UPKEEP);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
    let listen = hub.config().server.listen.clone();
    let workers = hub.config().server.http_workers;
    let max_connections = max_connections(descriptor_limit(), workers);
    let app_hub = hub.clone();
    let bound = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::<RequestSpan>::new())
            .configure(crate::api::configure(app_hub.clone()))
    })
    .workers(workers)
    .max_connections(max_connections)
    .disable_signals()
    .shutdown_timeout(10)
    .bind(&listen);
    let server = match bound {
        Ok(bound) => bound.run(),
        Err(e) => {
            // Stop the engine before the error ends the process: exiting
            // with the store still open races RocksDB's static teardown
            // (an abort, "pthread lock: Invalid argument", after the message).
            hub.shutdown().await;
            return Err(e.into());
        }
    };
    tracing::info!(%listen, "Listening.");
    let handle = server.handle();
    let served = actix_rt::spawn(server);
    shutdown.await;
    tracing::info!("Shutting down.");
    handle.stop(true).await;
    let _ = served.await;
    hub.shutdown().await;
    Ok(())
}

/// The process's `RLIMIT_NOFILE` (soft and hard), if it can be read.
fn nofile() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

/// The process's soft limit on open file descriptors (`RLIMIT_NOFILE`);
/// 1,024 (Linux's usual default) when it cannot be read.
pub fn descriptor_limit() -> u64 {
    nofile().map_or(1024, |lim| lim.rlim_cur)
}

/// Raise the soft descriptor limit to the hard one, as Go's runtime and
/// nginx do: the usual soft default (1,024) is what a few hundred
/// publishers' connections and RocksDB's files use up. Returns the limits
/// before and after when it changed. For `hookbus serve`, not the library:
/// a host decides its own process's limits.
pub fn raise_descriptor_limit() -> Option<(u64, u64)> {
    let mut lim = nofile().filter(|lim| lim.rlim_cur < lim.rlim_max)?;
    let before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the valid struct it is given.
    (unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0).then_some((before, lim.rlim_max))
}

/// Connections each HTTP worker accepts at once: half of the `descriptors`
/// the process may open, shared by the workers, within [16, 25,000] (25,000
/// is actix's own default). The other half stays for RocksDB's files (a
/// WAL and SST files it must be able to open at any time: when it cannot,
/// writes and flushes fail) and for the delivery connections to receivers.
/// Past the cap, new publishers wait in the listen backlog instead of
/// taking the store's descriptors.
///
/// # Examples
/// ```
/// assert_eq!(hookbus::server::max_connections(1024, 1), 512);
/// assert_eq!(hookbus::server::max_connections(1 << 20, 2), 25_000);
/// ```
pub fn max_connections(descriptors: u64, workers: usize) -> usize {
    (descriptors / 2 / workers.max(1) as u64).clamp(16, 25_000) as usize
}

/// The span of each HTTP request `hookbus serve` answers: method, path,
/// status, request id and, on failure, the error — what its log lines need
/// for context. tracing-actix-web's default span carries eleven more fields
/// (host, client IP, user agent, route, an OpenTelemetry name built with
/// `format!`, …), all computed and formatted for every request at the
/// default `info` level: ~7 µs of engine CPU per publish, 7 % of the whole
/// (docs/BENCHMARKS.md). A host embedding hookbus brings its own middleware.
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            request_id = request_id.map(tracing::field::display),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // Status and error, recorded the way the default builder does.
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
