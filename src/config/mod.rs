//! Configuration: `hookbus.toml` as plain serde types, `HOOKBUS_*` environment
//! overrides, and a `validate()` that reports every problem at once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::model::{Dur, Durability};

use crate::model::spec::EndpointSpec;

mod cluster;
mod tenancy;
use crate::transform::ScriptLimits;
pub use cluster::ClusterConfig;
pub use tenancy::{AppsConfig, EventsConfig};

/// Errors loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Parsed, but some values are invalid; every problem is listed.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Embedded store settings.
    pub storage: StorageConfig,
    /// Delivery defaults and limits.
    pub delivery: DeliveryConfig,
    /// Script sandbox limits.
    pub transforms: ScriptLimits,
    /// The event-type catalogue's enforcement.
    pub events: EventsConfig,
    /// Bounds on applications (tenants).
    pub apps: AppsConfig,
    /// Endpoints upserted by name at start.
    pub endpoints: Vec<EndpointSpec>,
    /// Cluster mode on NATS JetStream; embedded RocksDB alone without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address. Default `127.0.0.1:8080`. Env `HOOKBUS_LISTEN`.
    pub listen: String,
    /// Bearer token for the management API; none by default. Env `HOOKBUS_API_TOKEN`.
    pub api_token: Option<String>,
    /// HTTP worker threads. Default 1 (publishing is I/O-bound; delivery workers scale separately).
    pub http_workers: usize,
    /// Browser origins (`https://admin.example.com`) allowed to call `/v1`
    /// cross-site, with CORS answers. Default none: cross-site browser
    /// requests are refused (403), so a web page cannot publish or rotate secrets.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            api_token: None,
            http_workers: 1,
            cors_origins: Vec::new(),
        }
    }
}

/// `[storage]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// RocksDB directory. Default `./data`. Env `HOOKBUS_DATA`.
    pub path: PathBuf,
    /// `fsync` (default) or `buffered`. Env `HOOKBUS_DURABILITY`.
    pub durability: Durability,
    /// Master key sealing signing secrets and credentials at rest: base64 of
    /// 32 random bytes. Env `HOOKBUS_MASTER_KEY`. Default: generated into
    /// `<path>/master.key` (mode 0600) on first start.
    pub master_key: Option<String>,
    /// How long finished events (with their deliveries, attempts and dead
    /// letters) are kept; swept every 10 minutes. Default `"30d"`.
    pub retention: Dur,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            durability: Durability::Fsync,
            master_key: None,
            retention: Dur::secs(30 * 86400),
        }
    }
}

/// `[delivery]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Largest accepted publish request, in bytes. Default 1 MiB (1048576).
    pub max_event_bytes: usize,
    /// Largest accepted batch publish request, in bytes. Default 8 MiB.
    pub max_batch_bytes: usize,
    /// Most events in one batch. Default 1000.
    pub max_batch_events: usize,
    /// Threads running endpoint actors and their HTTP clients. Default: CPU cores.
    pub workers: usize,
    /// Deliveries per endpoint kept in memory; the rest wait in RocksDB. Default 1000.
    pub queue_memory: usize,
    /// CIDRs deliveries may reach although they are loopback, private, link-local,
    /// CGNAT, … (SSRF guard), e.g. `["127.0.0.0/8"]` for local receivers. Default none.
    pub allow_networks: Vec<String>,
    /// Publish push-back: with more deliveries than this queued for healthy
    /// endpoints (active, circuit closed), publishes answer 503 with
    /// `Retry-After` until the backlog is under 90 % of it. A down receiver's
    /// backlog does not count. Default 1000000; 0 turns it off.
    pub max_backlog: usize,
    /// The same for one healthy endpoint: publishes that would reach it are
    /// refused while it is over. Default 0 (off).
    pub max_backlog_per_endpoint: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1 << 20,
            max_batch_bytes: 8 << 20,
            max_batch_events: 1000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_memory: 1000,
            allow_networks: Vec::new(),
            max_backlog: 1_000_000,
            max_backlog_per_endpoint: 0,
        }
    }
}

impl Config {
    /// Read a TOML file (no validation; see [`Config::load`]). Relative
    /// paths in it (`storage.path`, `transform.path`) resolve against the
    /// file's directory, so a config means the same from any working directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        cfg.resolve_relative_to(&base);
        Ok(cfg)
    }

    /// Make the file's relative paths relative to `base` instead of the working directory.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.storage.path);
        if let Some(dir) = self.transforms.scripts_dir.as_mut() {
            fix(dir);
        }
        for ep in &mut self.endpoints {
            if let Some(path) = ep.transform.as_mut().and_then(|t| t.path.as_mut()) {
                fix(path);
            }
        }
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Load `path` if given (defaults otherwise), apply `HOOKBUS_*` overrides, validate.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => Self::from_file(p)?,
            None => Self::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }

    /// Apply `HOOKBUS_LISTEN`, `HOOKBUS_API_TOKEN`, `HOOKBUS_DATA`,
    /// `HOOKBUS_DURABILITY`, `HOOKBUS_REQUIRE_KNOWN_TYPES` and the cluster
    /// variables ([`ClusterConfig::apply_env`]).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("HOOKBUS_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = get("HOOKBUS_API_TOKEN").filter(|v| !v.is_empty()) {
            self.server.api_token = Some(v);
        }
        if let Some(v) = get("HOOKBUS_MASTER_KEY").filter(|v| !v.is_empty()) {
            self.storage.master_key = Some(v);
        }
        if let Some(v) = get("HOOKBUS_DATA") {
            self.storage.path = v.into();
        }
        if let Some(v) = get("HOOKBUS_DURABILITY") {
            self.storage.durability = match v.as_str() {
                "fsync" => Durability::Fsync,
                "buffered" => Durability::Buffered,
                other => {
                    return Err(ConfigError::Invalid(vec![format!(
                        "HOOKBUS_DURABILITY: `{other}` is not one of fsync, buffered"
                    )]));
                }
            };
        }
        if let Some(v) = get("HOOKBUS_REQUIRE_KNOWN_TYPES") {
            self.events.require_known_types =
                tenancy::parse_flag("HOOKBUS_REQUIRE_KNOWN_TYPES", &v)
                    .map_err(|e| ConfigError::Invalid(vec![e]))?;
        }
        ClusterConfig::apply_env(&mut self.cluster, &get)
            .map_err(|e| ConfigError::Invalid(vec![e]))?;
        Ok(())
    }

    /// Every problem in the configuration, as `path: reason` lines.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut out = Vec::new();
        match self.server.listen.parse::<SocketAddr>() {
            Err(_) => out.push(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            )),
            Ok(addr) if !addr.ip().is_loopback() && self.server.api_token.is_none() => out.push(
                "server.listen: a non-loopback address needs server.api_token (or HOOKBUS_API_TOKEN)"
                    .into(),
            ),
            Ok(_) => {}
        }
        if matches!(&self.server.api_token, Some(t) if t.len() < 16) {
            out.push("server.api_token: must be at least 16 characters".into());
        }
        if self.server.http_workers == 0 || self.server.http_workers > 64 {
            out.push("server.http_workers: must be between 1 and 64".into());
        }
        for (i, o) in self.server.cors_origins.iter().enumerate() {
            // An origin is scheme://host[:port] and nothing more.
            let given = o.trim().trim_end_matches('/').to_ascii_lowercase();
            let ok = url::Url::parse(&given).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == given
            });
            if !ok {
                out.push(format!(
                    "server.cors_origins[{i}]: `{o}` is not an origin like https://admin.example.com"
                ));
            }
        }
        if let Some(k) = &self.storage.master_key {
            if let Err(e) = crate::store::crypto::MasterKey::from_base64(k) {
                out.push(format!("storage.master_key: {e}"));
            }
        }
        if self.storage.path.as_os_str().is_empty() {
            out.push("storage.path: must not be empty".into());
        }
        let d = &self.delivery;
        if !(1024..=64 << 20).contains(&d.max_event_bytes) {
            out.push("delivery.max_event_bytes: must be between 1 KiB and 64 MiB".into());
        }
        if d.max_batch_bytes < d.max_event_bytes {
            out.push("delivery.max_batch_bytes: must be at least max_event_bytes".into());
        }
        if d.max_batch_events == 0 {
            out.push("delivery.max_batch_events: must be at least 1".into());
        }
        if d.workers == 0 || d.workers > 256 {
            out.push("delivery.workers: must be between 1 and 256".into());
        }
        if let Err(bad) = crate::endpoint::ssrf::parse_networks(&d.allow_networks) {
            out.extend(bad);
        }
        if d.queue_memory < 16 {
            out.push("delivery.queue_memory: must be at least 16".into());
        }
        out.extend(self.transforms.problems());
        out.extend(self.apps.problems());
        if let Some(c) = &self.cluster {
            out.extend(c.problems());
            // Every node opens every endpoint's sealed secret.
            if self.storage.master_key.is_none() {
                out.push(
                    "storage.master_key: cluster mode needs one key shared by every node (or HOOKBUS_MASTER_KEY)"
                        .into(),
                );
            }
        }
        let mut names = HashSet::new();
        let scripted = self.endpoints.iter().any(|e| e.transform.is_some());
        let engine = scripted.then(|| crate::transform::engine::build(&self.transforms));
        for (i, ep) in self.endpoints.iter().enumerate() {
            // Name the entry, not only its index: `endpoints[2] (crm).url`.
            let at = if ep.name.is_empty() {
                format!("endpoints[{i}]")
            } else {
                format!("endpoints[{i}] ({})", ep.name)
            };
            if let (Some(engine), Some(t)) = (&engine, &ep.transform) {
                if t.problems().is_empty() {
                    if let Err(e) = crate::transform::builtin::for_endpoint(
                        engine,
                        ep,
                        self.transforms.max_script_bytes,
                    ) {
                        let field = if t.path.is_some() { "path" } else { "script" };
                        out.push(format!("{at}.transform.{field}: {e}"));
                    }
                }
            }
            if !names.insert(ep.name.as_str()) {
                out.push(format!("{at}.name: duplicate name `{}`", ep.name));
            }
            for (field, msg) in ep.problems() {
                out.push(format!("{at}.{field}: {msg}"));
            }
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_valid_defaults() {
        let cfg = Config::from_toml("").unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.storage.path, PathBuf::from("./data"));
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../../hookbus.example.toml");
        let cfg = Config::from_toml(text).unwrap();
        cfg.validate().unwrap();
        assert!(!cfg.endpoints.is_empty());
    }

    #[test]
    fn example_config_declares_only_the_tour_endpoint_and_its_commented_extras_validate() {
        let text = include_str!("../../hookbus.example.toml");
        let cfg = Config::from_toml(text).unwrap();
        let names: Vec<&str> = cfg.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["orders-service"],
            "the README tour expects one endpoint"
        );
        let (_, more) = text
            .split_once("# --- more endpoints ---\n")
            .expect("the commented block is marked");
        let uncommented: String = more
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .map(|l| format!("{l}\n"))
            .collect();
        let full = Config::from_toml(&format!("{text}\n{uncommented}")).unwrap();
        let names: Vec<&str> = full.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["orders-service", "slack-alerts", "crm", "ops-chat"]);
        full.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let e = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nport = 8").unwrap_err();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn validate_reports_every_problem_at_once() {
        let text = r#"
            [server]
            listen = "0.0.0.0:80"
            [delivery]
            workers = 0
            [[endpoints]]
            name = "a"
            url = "ftp://x"
            [[endpoints]]
            name = "a"
            url = "http://127.0.0.1:9/"
            events = ["x.**.y"]
        "#;
        let errs = Config::from_toml(text).unwrap().validate().unwrap_err();
        let joined = errs.join("\n");
        for needle in [
            "server.listen",
            "delivery.workers",
            "endpoints[0] (a).url",
            "endpoints[1] (a).name",
            "endpoints[1] (a).events[0]",
        ] {
            assert!(joined.contains(needle), "missing {needle} in:\n{joined}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf");
        std::fs::create_dir_all(sub.join("scripts")).unwrap();
        std::fs::write(sub.join("scripts/t.rhai"), "fn transform(e) { e }").unwrap();
        let file = sub.join("hookbus.toml");
        std::fs::write(
            &file,
            "[storage]\npath = \"./data\"\n[[endpoints]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n\
             transform = { path = \"scripts/t.rhai\" }\n[[endpoints]]\nname = \"b\"\n\
             url = \"http://127.0.0.1:9/\"\ntransform = { path = \"/abs/t.rhai\" }\n",
        )
        .unwrap();
        let cfg = Config::from_file(&file).unwrap();
        assert_eq!(cfg.storage.path, sub.join("./data"));
        let path = |i: usize| cfg.endpoints[i].transform.as_ref().unwrap().path.clone();
        assert_eq!(path(0), Some(sub.join("scripts/t.rhai")));
        assert_eq!(
            path(1),
            Some(PathBuf::from("/abs/t.rhai")),
            "absolute paths stay"
        );
        // The script is found although the working directory is elsewhere.
        let mut only_a = cfg.clone();
        only_a.endpoints.truncate(1);
        only_a.validate().unwrap();
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "HOOKBUS_DATA" => Some("/tmp/x".into()),
            "HOOKBUS_DURABILITY" => Some("buffered".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.storage.path, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.storage.durability, Durability::Buffered);
        assert!(
            cfg.apply_env(|k| (k == "HOOKBUS_DURABILITY").then(|| "never".into()))
                .is_err()
        );
    }
}
