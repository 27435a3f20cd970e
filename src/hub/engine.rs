//! Starting an engine (store, bus, endpoint actors, configured endpoints),
//! the handle's plumbing to the bus, and shutting it down.

use std::sync::{Arc, Mutex, OnceLock};

use actix::prelude::*;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::bus::actor::Wiring;
use crate::bus::messages::{DrainAll, GetEndpoint, ListEndpoints, SaveEndpoint, StopAll, Upserted};
use crate::bus::{Bus, BusError};
use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::endpoint::messages::GetSnapshot;
use crate::endpoint::ssrf;
use crate::store::Store;
use crate::transform;

use super::Error;

/// How long [`Hookbus::shutdown`] lets in-flight attempts finish.
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// What every clone of a [`Hookbus`] shares.
pub(super) struct Inner {
    pub(super) bus: Addr<Bus>,
    pub(super) store: Store,
    pub(super) config: Config,
    /// Renders `/metrics` when the host attached one.
    pub(super) metrics: OnceLock<PrometheusHandle>,
    /// The script engine (dry runs compile with it).
    pub(super) engine: Arc<rhai::Engine>,
    /// The SSRF policy (test sends use it too).
    pub(super) guard: Arc<ssrf::Guard>,
    /// Delivery threads plus the bus thread; stopped on shutdown.
    pub(super) arbiters: Mutex<Vec<Arbiter>>,
    /// Delivery outcomes, for [`Hookbus::outcomes`].
    pub(super) outcomes: crate::outcomes::Sender,
    /// Per-endpoint gauges, rendered at scrape time.
    pub(super) board: Arc<crate::telemetry::board::Board>,
    /// Applications, their tokens and the event-type catalogue.
    pub(super) directory: Arc<Directory>,
    /// The bus's latest publish push-back assessment.
    pub(super) pressure: Arc<Mutex<crate::bus::pressure::Pressure>>,
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
    pub(super) inner: Arc<Inner>,
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
