//! [`HookbusBuilder`]: configure and start an embedded engine.

use std::path::{Path, PathBuf};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::{Config, ConfigError};
use crate::endpoint::spec::EndpointSpec;
use crate::{Error, Hookbus};

/// How `/metrics` gets its data.
#[derive(Default)]
enum Metrics {
    /// No `/metrics` (hookbus's metrics still flow into whatever recorder the host installed).
    #[default]
    Off,
    /// Install hookbus's Prometheus recorder as the process's global recorder.
    Install,
    /// Serve `/metrics` from the host's own Prometheus handle.
    Handle(PrometheusHandle),
}

/// Builds a [`Hookbus`]: start from defaults or a config, adjust, then [`start`](Self::start).
///
/// # Examples
/// ```no_run
/// # async fn demo() -> Result<(), hookbus::Error> {
/// use hookbus::endpoint::spec::EndpointSpec;
///
/// let hub = hookbus::Hookbus::builder()
///     .data_dir("./shop-data")
///     .endpoint(EndpointSpec::new("fulfilment", "https://fulfilment.example/hooks", &["order.*"]))
///     .start()
///     .await?;
/// hub.publish(hookbus::PublishRequest::new("order.created", serde_json::json!({"id": 1}))).await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
#[must_use]
pub struct HookbusBuilder {
    config: Config,
    data_dir: Option<PathBuf>,
    endpoints: Vec<EndpointSpec>,
    metrics: Metrics,
    lookup: Option<crate::endpoint::ssrf::LookupFn>,
}

impl HookbusBuilder {
    /// Use this configuration (replaces anything set before).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Load a `hookbus.toml` (with `HOOKBUS_*` overrides).
    pub fn config_file(mut self, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        self.config = Config::load(Some(path.as_ref()))?;
        Ok(self)
    }

    /// Where RocksDB keeps its files (overrides `storage.path`).
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// An endpoint to upsert by name at start (in addition to the config's).
    pub fn endpoint(mut self, spec: EndpointSpec) -> Self {
        self.endpoints.push(spec);
        self
    }

    /// Install hookbus's Prometheus recorder as the global recorder and serve
    /// it at `/metrics`. Fails at start if the host already installed one.
    pub fn install_metrics_recorder(mut self) -> Self {
        self.metrics = Metrics::Install;
        self
    }

    /// Serve `/metrics` from the host's own Prometheus handle (the host installed the recorder).
    pub fn metrics_handle(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Metrics::Handle(handle);
        self
    }

    /// Resolve delivery host names with `lookup` instead of the system resolver
    /// (the SSRF guard still checks every answer).
    pub fn resolver(mut self, lookup: crate::endpoint::ssrf::LookupFn) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// Allow deliveries to these CIDRs although they are loopback/private
    /// (adds to `delivery.allow_networks`), e.g. `["127.0.0.0/8"]` for local receivers.
    pub fn allow_networks(mut self, cidrs: &[&str]) -> Self {
        self.config
            .delivery
            .allow_networks
            .extend(cidrs.iter().map(|s| s.to_string()));
        self
    }

    /// Validate, open the store and start the actors. Must run inside an actix system.
    pub async fn start(self) -> Result<Hookbus, Error> {
        let mut config = self.config;
        if let Some(dir) = self.data_dir {
            config.storage.path = dir;
        }
        config.endpoints.extend(self.endpoints);
        let handle =
            match self.metrics {
                Metrics::Off => None,
                Metrics::Handle(h) => Some(h),
                Metrics::Install => Some(crate::telemetry::recorder::install().map_err(|e| {
                    Error::Io(std::io::Error::other(format!("metrics recorder: {e}")))
                })?),
            };
        let lookup = self
            .lookup
            .unwrap_or_else(crate::endpoint::ssrf::system_lookup);
        let hub = Hookbus::start_with_lookup(config, lookup).await?;
        if let Some(h) = handle {
            hub.attach_metrics(h);
        }
        Ok(hub)
    }
}
