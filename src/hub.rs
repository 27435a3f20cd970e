//! [`Hookbus`], the cheap-to-clone handle to a running engine (the server
//! around it is `server.rs`).

use std::sync::{Arc, Mutex, OnceLock};

use actix::prelude::*;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::bus::actor::Wiring;
use crate::bus::dead_letters::DeadLetterFilter;
use crate::bus::messages::{
    DeleteApp, DrainAll, GetEndpoint, ListEndpoints, PublishReceipt, SaveEndpoint, StopAll,
    Upserted,
};
use crate::bus::{Bus, BusError};
use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::endpoint::messages::{GetSnapshot, Snapshot};
use crate::endpoint::spec::EndpointSpec;
use crate::endpoint::ssrf;
#[cfg(doc)]
use crate::endpoint::test_send::SendTest;
use crate::endpoint::test_send::TestReport;
use crate::event::PublishRequest;
use crate::model::app::AppSpec;
use crate::scoped::AppHandle;
use crate::store::records::AppRecord;
use crate::store::records::{DeadLetter, EndpointRecord};
use crate::store::{Store, StoreError};
use crate::telemetry::board::EndpointRow;
use crate::transform;

/// How long [`Hookbus::shutdown`] lets in-flight attempts finish.
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Errors starting or running hookbus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("cannot open store: {0}")]
    Store(#[from] StoreError),
    /// A configured endpoint was rejected.
    #[error("endpoint `{name}`: {source}")]
    Endpoint {
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: BusError,
    },
    /// A publish or management call failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The HTTP server failed (e.g. address in use).
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// An error as one line for people: its message, then each cause after `: `
/// (what `main` prints; `{e:?}` would show the Rust structure instead).
///
/// # Examples
/// ```
/// let e = hookbus::BusError::NotFound("endpoint `x`".into());
/// assert_eq!(hookbus::error_report(&e), "endpoint `x` not found");
/// ```
pub fn error_report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // thiserror's `transparent`/`{0}` often repeat the cause verbatim.
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        cause = c.source();
    }
    out
}

struct Inner {
    bus: Addr<Bus>,
    store: Store,
    config: Config,
    /// Renders `/metrics` when the host attached one.
    metrics: OnceLock<PrometheusHandle>,
    /// The script engine (dry runs compile with it).
    engine: Arc<rhai::Engine>,
    /// The SSRF policy (test sends use it too).
    guard: Arc<ssrf::Guard>,
    /// Delivery threads plus the bus thread; stopped on shutdown.
    arbiters: Mutex<Vec<Arbiter>>,
    /// Delivery outcomes, for [`Hookbus::outcomes`].
    outcomes: crate::outcomes::Sender,
    /// Per-endpoint gauges, rendered at scrape time.
    board: Arc<crate::telemetry::board::Board>,
    /// Applications, their tokens and the event-type catalogue.
    directory: Arc<Directory>,
    /// The bus's latest publish push-back assessment.
    pressure: Arc<Mutex<crate::bus::pressure::Pressure>>,
}

impl Drop for Inner {
    /// Dropping the last handle without `shutdown` still stops the actor
    /// threads, so the store closes instead of lingering until process exit.
    fn drop(&mut self) {
        let arbiters = self
            .arbiters
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for a in &arbiters {
            a.stop();
        }
    }
}

/// Cluster mode: a row is one NATS message, so an event or a script larger
/// than the server's `max_payload` (less room for the row's envelope and
/// headers) could be accepted but never stored. Such limits are lowered to
/// fit, with a warning naming the setting to raise on the NATS side.
fn fit_rows_in_messages(config: &mut Config, store: &Store) {
    let Some(max_payload) = store.cluster_max_payload() else {
        return;
    };
    let room = max_payload.saturating_sub(64 << 10).max(1024);
    for (name, limit) in [
        (
            "delivery.max_event_bytes",
            &mut config.delivery.max_event_bytes,
        ),
        (
            "transforms.max_script_bytes",
            &mut config.transforms.max_script_bytes,
        ),
    ] {
        if *limit > room {
            tracing::warn!(
                setting = name,
                configured = *limit,
                now = room,
                nats_max_payload = max_payload,
                "Lowered to fit one NATS message; raise max_payload on the NATS servers to allow more."
            );
            *limit = room;
        }
    }
}

/// A running hookbus engine. Clone it freely; all clones share one engine.
#[derive(Clone)]
pub struct Hookbus {
    inner: Arc<Inner>,
}

impl Hookbus {
    /// A builder for an embedded engine (see [`crate::HookbusBuilder`]).
    pub fn builder() -> crate::HookbusBuilder {
        crate::HookbusBuilder::default()
    }

    /// Open the store, start the bus and endpoint actors, and upsert the
    /// config's endpoints by name. Must run inside an actix system.
    pub async fn start(config: Config) -> Result<Self, Error> {
        Self::start_with_lookup(config, ssrf::system_lookup()).await
    }

    /// Like [`Hookbus::start`], resolving delivery host names with `lookup`
    /// (a custom DNS, or a fake in tests); the SSRF guard checks its answers.
    pub async fn start_with_lookup(
        mut config: Config,
        lookup: ssrf::LookupFn,
    ) -> Result<Self, Error> {
        config.validate().map_err(ConfigError::Invalid)?;
        std::fs::create_dir_all(&config.storage.path)?;
        let key = crate::store::crypto::MasterKey::load_or_create(
            config.storage.master_key.as_deref(),
            &config.storage.path,
        )
        .map_err(|e| ConfigError::Invalid(vec![format!("storage.master_key: {e}")]))?;
        let store = match &config.cluster {
            None => Store::open(&config.storage.path, config.storage.durability, key)?,
            Some(c) => {
                let settings = c.settings(&config.server.listen);
                let store = Store::open_cluster(&config.storage.path, settings, key).await?;
                fit_rows_in_messages(&mut config, &store);
                store
            }
        };
        // Fail loudly on a wrong master key rather than start without endpoints.
        store.endpoints()?;
        let directory = Arc::new(Directory::load(
            store.clone(),
            crate::directory::Settings {
                require_known_types: config.events.require_known_types,
                max_apps: config.apps.max_apps,
            },
        )?);
        let workers: Vec<Arbiter> = (0..config.delivery.workers)
            .map(|_| Arbiter::new())
            .collect();
        let handles = workers.iter().map(Arbiter::handle).collect();
        let bus_arbiter = Arbiter::new();
        let allow =
            ssrf::parse_networks(&config.delivery.allow_networks).map_err(ConfigError::Invalid)?;
        let guard = Arc::new(ssrf::Guard::new(allow, lookup));
        let engine = transform::engine::build(&config.transforms);
        let limits = &config.transforms;
        let pool = transform::pool::Pool::start(
            engine.clone(),
            transform::pool::PoolSettings {
                shares: limits.workers,
                threads: transform::pool::PoolSettings::threads_for(limits.workers),
                max_output: limits.max_output_bytes,
                max_run_time: limits.max_run_time.0,
            },
        );
        let outcomes = crate::outcomes::channel();
        let board = Arc::new(crate::telemetry::board::Board::default());
        let pressure = Arc::new(Mutex::new(crate::bus::pressure::Pressure::default()));
        crate::telemetry::EngineStarted.emit();
        let bus = {
            let wiring = Wiring {
                store: store.clone(),
                workers: handles,
                queue_memory: config.delivery.queue_memory,
                retention: config.storage.retention.get(),
                engine: engine.clone(),
                pool,
                max_script_bytes: limits.max_script_bytes,
                guard: guard.clone(),
                outcomes: outcomes.clone(),
                board: board.clone(),
                max_endpoints_per_app: config.apps.max_endpoints_per_app,
                backlog_bounds: crate::bus::pressure::Bounds {
                    global: config.delivery.max_backlog,
                    per_endpoint: config.delivery.max_backlog_per_endpoint,
                },
                pressure: pressure.clone(),
                directory: Some(directory.clone()),
            };
            Bus::start_in_arbiter(&bus_arbiter.handle(), move |_| Bus::new(wiring))
        };
        let mut arbiters = workers;
        arbiters.push(bus_arbiter);
        let hub = Self {
            inner: Arc::new(Inner {
                bus,
                store,
                config,
                metrics: OnceLock::new(),
                engine,
                guard,
                arbiters: Mutex::new(arbiters),
                outcomes,
                board,
                directory,
                pressure,
            }),
        };
        for spec in hub.inner.config.endpoints.clone() {
            let name = spec.name.clone();
            hub.upsert_endpoint(spec)
                .await
                .map_err(|source| Error::Endpoint { name, source })?;
        }
        // Every endpoint actor has read its queue from the store before the
        // first publish: a delivery committed meanwhile would otherwise be
        // paged in without its publish's event and span.
        let endpoints = hub.ask(ListEndpoints(None)).await.unwrap_or_default();
        for record in &endpoints {
            if let Ok(Some((_, addr))) = hub
                .ask(GetEndpoint {
                    app: record.app.clone(),
                    endpoint: record.id.clone(),
                })
                .await
            {
                let _ = addr.send(GetSnapshot).await;
            }
        }
        tracing::info!(
            path = %hub.inner.config.storage.path.display(),
            endpoints = endpoints.len(),
            "Hookbus started."
        );
        Ok(hub)
    }

    /// Hear every delivery's outcome in-process: delivered, retry scheduled,
    /// dead-lettered or filtered, with endpoint, delivery, event, attempt,
    /// status or error and latency. A subscriber that stops reading never
    /// slows delivery: past [`crate::outcomes::CAPACITY`] outcomes behind, its
    /// next `recv` answers `Err(RecvError::Lagged(n))` with how many it
    /// missed, then continues with the newest.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) {
    /// use hookbus::outcomes::OutcomeKind;
    /// use tokio::sync::broadcast::error::RecvError;
    /// let mut outcomes = hub.outcomes();
    /// loop {
    ///     match outcomes.recv().await {
    ///         Ok(o) if o.kind == OutcomeKind::DeadLettered => {
    ///             eprintln!("{} to {} is dead: {:?}", o.delivery_id, o.endpoint, o.error)
    ///         }
    ///         Ok(_) => {}
    ///         Err(RecvError::Lagged(missed)) => eprintln!("missed {missed} outcomes"),
    ///         Err(RecvError::Closed) => break,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn outcomes(&self) -> tokio::sync::broadcast::Receiver<crate::outcomes::Outcome> {
        self.inner.outcomes.subscribe()
    }

    /// The Prometheus text `/metrics` serves: the attached recorder's series
    /// for endpoints that exist, plus the per-endpoint gauges, lag, build info
    /// and process metrics rendered from the engine itself. `None` without an
    /// attached handle. A host that renders its own handle can append
    /// [`Hookbus::render_engine_metrics`] instead.
    pub fn render_metrics(&self) -> Option<String> {
        let handle = self.inner.metrics.get()?;
        // Endpoints first, then the recorder (see `Scrape::rows`).
        let rows = self.inner.board.rows();
        Some(self.render_with(&handle.render(), rows))
    }

    /// Only the families hookbus renders from its own state (gauges per
    /// endpoint, `hookbus_oldest_pending_seconds`, build info, process).
    pub fn render_engine_metrics(&self) -> String {
        self.render_with("", self.inner.board.rows())
    }

    fn render_with(&self, recorded: &str, rows: Vec<(String, EndpointRow)>) -> String {
        let store = &self.inner.store;
        let now = crate::ids::now_ms();
        let oldest = |id: &str| -> f64 {
            // Queue rows sort by ticket, a ULID: the first one is the oldest.
            match store.queue_page(id, None, 1) {
                Ok(rows) => rows.first().map_or(0.0, |(ticket, _)| {
                    let ms = (*ticket >> 80) as u64;
                    now.saturating_sub(ms) as f64 / 1000.0
                }),
                Err(_) => 0.0,
            }
        };
        crate::telemetry::render::render(&crate::telemetry::render::Scrape {
            recorded,
            rows,
            oldest_pending: &oldest,
            store_writable: store.writable(),
            cluster: store
                .cluster_state()
                .map(|c| crate::telemetry::render::ClusterGauges {
                    nats_connected: c.connected,
                    partitions: c.owned.partitions,
                    partitions_owned: c.owned.mine.len(),
                    live_nodes: c.owned.live_nodes,
                    applied_sequence: c.applied_seq,
                }),
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store, to read records (deliveries, attempts, events, dead
    /// letters). Writing is the engine's own: its bus and endpoint actors
    /// keep their in-memory state in step with every row they write.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Publish one event; resolves once it and its deliveries are durable.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::bus::BusError> {
    /// let receipt = hub.publish(hookbus::PublishRequest::new("order.created", serde_json::json!({"id": 1}))).await?;
    /// println!("{} → {} deliveries", receipt.id, receipt.deliveries.len());
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, event: PublishRequest) -> Result<PublishReceipt, BusError> {
        self.default_app().publish(event).await
    }

    /// Publish several events in one durable batch.
    pub async fn publish_batch(
        &self,
        events: Vec<PublishRequest>,
    ) -> Result<Vec<PublishReceipt>, BusError> {
        self.default_app().publish_batch(events).await
    }

    /// Create or update (by name) an endpoint.
    pub async fn upsert_endpoint(&self, spec: EndpointSpec) -> Result<Upserted, BusError> {
        self.default_app().upsert_endpoint(spec).await
    }

    /// Create an endpoint; a taken name is a conflict. The returned record
    /// holds the generated signing secret (show it to the receiver once).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::Error> {
    /// use hookbus::endpoint::spec::EndpointSpec;
    /// let created = hub
    ///     .create_endpoint(EndpointSpec::new("billing", "https://billing.example/hooks", &["invoice.**"]))
    ///     .await?;
    /// println!("secret: {}", created.record.spec.signing.secrets[0]);
    /// # Ok(()) }
    /// ```
    pub async fn create_endpoint(&self, spec: EndpointSpec) -> Result<Upserted, BusError> {
        self.default_app().create_endpoint(spec).await
    }

    /// Replace an endpoint's spec (by id or name; renaming allowed).
    pub async fn update_endpoint(
        &self,
        id_or_name: &str,
        spec: EndpointSpec,
    ) -> Result<Upserted, BusError> {
        self.default_app().update_endpoint(id_or_name, spec).await
    }

    /// Ask the bus; a bus that is gone (shutting down) is `Unavailable`.
    pub(crate) async fn ask<M>(&self, msg: M) -> Result<M::Result, BusError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        Bus: actix::Handler<M>,
    {
        self.inner
            .bus
            .send(msg)
            .await
            .map_err(|_| BusError::Unavailable)
    }

    /// Hand `publish` to the bus and wait for its answer, which comes
    /// straight from the committer thread once the batch is durable (see
    /// [`Submit`](crate::bus::messages::Submit)). Waits for room first when
    /// the bus's mailbox is full, as [`Self::ask`] would.
    pub(crate) async fn submit(
        &self,
        publish: crate::bus::messages::Publish,
    ) -> Result<Vec<crate::bus::messages::PublishReceipt>, BusError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let msg = crate::bus::messages::Submit { publish, answer };
        match self.inner.bus.try_send(msg) {
            Ok(()) => {}
            Err(SendError::Full(msg)) => self.ask(msg).await?,
            Err(SendError::Closed(_)) => return Err(BusError::Unavailable),
        }
        answered.await.unwrap_or(Err(BusError::Unavailable))
    }

    /// A script is compiled here, on a blocking thread, before the save
    /// reaches the bus: compiling a large script on the bus's thread would
    /// hold up every publish meanwhile.
    pub(crate) async fn save(&self, mut msg: SaveEndpoint) -> Result<Upserted, BusError> {
        let spec = &msg.spec;
        if spec.transform.is_some() || spec.format != crate::model::spec::Format::Json {
            let engine = self.inner.engine.clone();
            let spec = spec.clone();
            let max = self.inner.config.transforms.max_script_bytes;
            msg.precompiled = actix_rt::task::spawn_blocking(move || {
                transform::builtin::Precompiled::compile(&engine, &spec, max)
            })
            .await
            .ok();
        }
        self.ask(msg).await?
    }

    /// New signing secret; the old ones keep signing for `grace`. Returns the new secret.
    pub async fn rotate_secret(
        &self,
        id_or_name: &str,
        grace: std::time::Duration,
    ) -> Result<(Arc<EndpointRecord>, String), BusError> {
        self.rotate_secret_with(id_or_name, grace, false).await
    }

    /// Like [`Hookbus::rotate_secret`]; with `revoke_previous` every secret
    /// still retiring from earlier rotations stops signing at once too, so
    /// only the new one signs (after a leak).
    pub async fn rotate_secret_with(
        &self,
        id_or_name: &str,
        grace: std::time::Duration,
        revoke_previous: bool,
    ) -> Result<(Arc<EndpointRecord>, String), BusError> {
        self.default_app()
            .rotate_secret_with(id_or_name, grace, revoke_previous)
            .await
    }

    /// Delete an endpoint; its open deliveries end as dead.
    pub async fn delete_endpoint(&self, id_or_name: &str) -> Result<(), BusError> {
        self.default_app().delete_endpoint(id_or_name).await
    }

    /// Every endpoint of the default application, in name order.
    pub async fn endpoints(&self) -> Result<Vec<Arc<EndpointRecord>>, BusError> {
        self.default_app().endpoints().await
    }

    /// One endpoint (by id or name) with its actor's live state.
    pub async fn endpoint_status(
        &self,
        id_or_name: &str,
    ) -> Result<(Arc<EndpointRecord>, Snapshot), BusError> {
        self.default_app().endpoint_status(id_or_name).await
    }

    /// Send a `hookbus.test` event to one endpoint now, through its real
    /// pipeline (format or transform, redaction, every secret still
    /// signing), once: no retry, no dead letter, no effect on its breaker or
    /// stats. Kept in its history as a delivery marked `test`.
    pub async fn test_endpoint(&self, id_or_name: &str) -> Result<TestReport, BusError> {
        self.default_app().test_endpoint(id_or_name).await
    }

    /// The latest publish push-back assessment: the healthy backlog, and
    /// whether (and for which endpoints) publishes are being refused.
    pub fn pressure(&self) -> crate::bus::pressure::Pressure {
        self.inner
            .pressure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applications, their tokens and the event-type catalogue.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.inner.directory
    }

    /// One application's view of the engine, by id or uid.
    pub fn app(&self, id_or_uid: &str) -> Result<AppHandle, BusError> {
        let app = self
            .inner
            .directory
            .resolve(id_or_uid)
            .ok_or_else(|| BusError::NotFound(format!("application `{id_or_uid}`")))?;
        Ok(AppHandle {
            hub: self.clone(),
            app,
        })
    }

    /// The default application: what the flat routes, the config file and
    /// this handle's own endpoint and publish methods work on.
    pub fn default_app(&self) -> AppHandle {
        let app = self
            .inner
            .directory
            .resolve(crate::model::app::DEFAULT_APP_ID)
            .unwrap_or_else(|| Arc::new(crate::directory::default_app()));
        AppHandle {
            hub: self.clone(),
            app,
        }
    }

    /// Create an application (tenant); a taken uid is a conflict.
    pub async fn create_app(&self, spec: AppSpec) -> Result<Arc<AppRecord>, BusError> {
        Ok(self.inner.directory.create_app(spec).await?)
    }

    /// Replace an application's spec (its uid stays).
    pub async fn update_app(
        &self,
        id_or_uid: &str,
        spec: AppSpec,
    ) -> Result<Arc<AppRecord>, BusError> {
        let id = self.app(id_or_uid)?.app.id.clone();
        Ok(self.inner.directory.update_app(&id, spec).await?)
    }

    /// Delete an application: its endpoints are deleted (their pending
    /// deliveries end as dead, as with any deleted endpoint), its tokens
    /// revoked, and its dead letters purged; events and delivery history age
    /// out with `storage.retention`. Answers how many endpoints went.
    pub async fn delete_app(&self, id_or_uid: &str) -> Result<usize, BusError> {
        let dir = &self.inner.directory;
        let app = dir.begin_delete(id_or_uid)?;
        let handle = AppHandle {
            hub: self.clone(),
            app: app.clone(),
        };
        let removed = match self.ask(DeleteApp(app.id.clone())).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) | Err(e) => {
                dir.abort_delete(&app.id);
                return Err(e);
            }
        };
        // Nothing can replay them now: their endpoints are gone.
        handle
            .purge_dead_letters(DeadLetterFilter::default())
            .await?;
        dir.finish_delete(&app.id).await?;
        Ok(removed)
    }

    /// Use `handle` to serve `GET /metrics` (the host or [`run`](crate::run) installs the recorder).
    pub fn attach_metrics(&self, handle: PrometheusHandle) {
        // A recorder installed after start missed the zero-valued series: make them now.
        crate::telemetry::EngineStarted.emit();
        for (_, row) in self.inner.board.rows() {
            crate::telemetry::EndpointSeries {
                endpoint: &row.name,
            }
            .emit();
        }
        let _ = self.inner.metrics.set(handle);
    }

    /// The attached Prometheus handle, if any.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.get()
    }

    /// Replay matching dead letters (fresh attempt budget, same delivery ids);
    /// with `dry_run` only report them.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::Error> {
    /// use hookbus::bus::dead_letters::DeadLetterFilter;
    /// let filter = DeadLetterFilter { endpoint: Some("billing".into()), ..Default::default() };
    /// let replayed = hub.replay_dead_letters(filter, false).await?;
    /// println!("{} deliveries queued again", replayed.len());
    /// # Ok(()) }
    /// ```
    pub async fn replay_dead_letters(
        &self,
        filter: DeadLetterFilter,
        dry_run: bool,
    ) -> Result<Vec<DeadLetter>, BusError> {
        self.default_app()
            .replay_dead_letters(filter, dry_run)
            .await
    }

    /// Attempt a finished (delivered, dead, filtered) delivery again.
    pub async fn retry_delivery(&self, delivery_id: &str) -> Result<(), BusError> {
        self.default_app().retry_delivery(delivery_id).await
    }

    /// Delete matching dead letters; returns what was deleted.
    pub async fn purge_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, BusError> {
        self.default_app().purge_dead_letters(filter).await
    }

    /// The SSRF policy deliveries go through.
    pub fn guard(&self) -> &Arc<ssrf::Guard> {
        &self.inner.guard
    }

    /// The shared script engine.
    pub fn engine(&self) -> &Arc<rhai::Engine> {
        &self.inner.engine
    }

    /// Stop the actors and threads. Pending deliveries stay in the store for the next start.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), hookbus::Error> {
    /// let hub = hookbus::Hookbus::builder().data_dir("/tmp/hookbus-demo").start().await?;
    /// // ... serve, publish ...
    /// hub.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) {
        self.shutdown_within(SHUTDOWN_DRAIN).await;
    }

    /// Like [`Hookbus::shutdown`], giving attempts already in flight up to
    /// `deadline` to finish (and be recorded) first. Unfinished ones are
    /// attempted again after the next start.
    pub async fn shutdown_within(&self, deadline: std::time::Duration) {
        if actix_rt::time::timeout(deadline, self.inner.bus.send(DrainAll))
            .await
            .is_err()
        {
            tracing::warn!(
                ?deadline,
                "Attempts still in flight at the shutdown deadline; they will be retried after restart."
            );
        }
        let _ = self.inner.bus.send(StopAll).await;
        let arbiters = std::mem::take(
            &mut *self
                .inner
                .arbiters
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for a in &arbiters {
            a.stop();
        }
        for a in arbiters {
            let _ = actix_rt::task::spawn_blocking(move || a.join()).await;
        }
        // Outcomes the actors handed to the committer are written before the store closes.
        if let Err(e) = self.inner.store.flush().await {
            tracing::error!(error = %e, "Cannot write the last outcomes; those deliveries will be attempted again.");
        }
        // Counted after the actors stopped, so the figure is what the next start resumes.
        let pending: usize = self
            .inner
            .store
            .endpoints()
            .map(|eps| {
                eps.iter()
                    .map(|e| self.inner.store.queue_len(&e.id).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        self.inner.store.close().await;
        tracing::info!(
            pending,
            "Stopped; {pending} deliveries stay pending for the next start."
        );
    }
}
