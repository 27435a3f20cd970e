//! The command-line front end: the server (`serve`), offline tools
//! (`check-config`, `transform test`, `verify`) and an API client for a
//! running server (`endpoints`, `publish`, `deliveries`, `dlq`, `stats`).
//!
//! Files: `client` (HTTP calls, failures, exit codes), `endpoint_cmds` and
//! `history` (the client commands, written for people, `--format json` for
//! scripts), `output` (tables, blocks), `when` (`--since 1h`), `local`
//! (offline commands), `transform_cmds` (`transform test`, offline or
//! against a server).

mod apps_cmds;
mod client;
mod endpoint_cmds;
mod history;
mod local;
mod output;
mod transform_cmds;
mod when;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;

/// hookbus — webhook delivery engine with durable queues, wildcard
/// subscriptions, Rhai transforms and signed deliveries.
#[derive(Parser, Debug)]
#[command(name = "hookbus", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where a client command finds the server, and how it prints.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// Server base URL.
    #[arg(
        long,
        global = true,
        env = "HOOKBUS_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// API token (the admin token, or an application's `hbk_…` token with `--app`).
    #[arg(long, global = true, env = "HOOKBUS_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Work on this application (id or uid) instead of the default one:
    /// endpoint, event, delivery and dead-letter commands use `/v1/apps/{app}/…`.
    #[arg(long, global = true, env = "HOOKBUS_APP")]
    pub app: Option<String>,
    /// Output: readable tables and lines, or the server's JSON (stable, for scripts).
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

/// Output format of client commands.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables and key/value lines.
    Table,
    /// The server's JSON, pretty-printed.
    Json,
}

/// Log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (defaults apply when no config file is given).
    Serve {
        /// Config file (TOML); see hookbus.example.toml.
        #[arg(short, long, env = "HOOKBUS_CONFIG")]
        config: Option<PathBuf>,
        /// Log format on stderr: text or json. Filter with RUST_LOG (default info).
        #[arg(long, env = "HOOKBUS_LOG_FORMAT", default_value = "text")]
        log_format: LogFormat,
    },
    /// Validate a config file (scripts included) and report every problem.
    CheckConfig {
        /// Config file (TOML). Default: $HOOKBUS_CONFIG, then ./hookbus.toml.
        #[arg(short, long, env = "HOOKBUS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Work with transform scripts.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// Check a received webhook's signature (Standard Webhooks or sha256=), as a receiver would.
    Verify(local::VerifyArgs),
    /// Manage endpoints on a running server.
    #[command(subcommand)]
    Endpoints(EndpointCommand),
    /// Publish one event to a running server.
    Publish {
        /// Event type, e.g. order.created.
        event_type: String,
        /// Event data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Idempotency key.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Inspect and retry deliveries.
    #[command(subcommand)]
    Deliveries(DeliveryCommand),
    /// The dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Applications (tenants) and their API tokens (admin token).
    #[command(subcommand)]
    Apps(AppCommand),
    /// The event-type catalogue.
    #[command(subcommand)]
    EventTypes(EventTypeCommand),
    /// Per-endpoint statistics (all endpoints, or one).
    Stats {
        /// Endpoint id or name.
        endpoint: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hookbus transform …`.
#[derive(Subcommand, Debug)]
pub enum TransformCommand {
    /// Dry-run a script on an event; prints `{output, headers, skipped, error, logs, …}`
    /// as JSON, then the script's log lines and its error, readable, on stderr.
    /// Offline with FILE and `--event`; against a running server with
    /// `--event-id` or `--endpoint`.
    Test {
        /// What to run on what.
        #[command(flatten)]
        args: transform_cmds::TestArgs,
        /// Server and token (with `--event-id` / `--endpoint`).
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hookbus endpoints …`.
#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// List endpoints.
    List {
        /// Only this status (active, paused, disabled).
        #[arg(long)]
        status: Option<String>,
        /// Only endpoints that would receive this event type.
        #[arg(long)]
        event: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one endpoint (secrets redacted).
    Get {
        /// Endpoint id or name.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Create an endpoint from a JSON file (`-` for stdin) or from flags; prints its secret once, last.
    Create {
        /// JSON endpoint definition (same schema as the config file).
        #[arg(long, conflicts_with_all = ["name", "endpoint_url", "events"])]
        file: Option<PathBuf>,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Destination URL.
        #[arg(long = "endpoint-url")]
        endpoint_url: Option<String>,
        /// Subscription patterns (repeatable).
        #[arg(long = "event")]
        events: Vec<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Update an endpoint with a JSON merge patch from a file (`-` for stdin).
    Update {
        /// Endpoint id or name.
        id: String,
        /// JSON merge patch file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete an endpoint.
    Delete {
        /// Endpoint id or name.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Pause: queue deliveries, send nothing.
    Pause {
        /// Endpoint id or name.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Resume (also re-enables a disabled endpoint).
    Resume {
        /// Endpoint id or name.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Send a signed hookbus.test event now and show the attempt (exit 1 if it failed).
    Test {
        /// Endpoint id or name.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Rotate the signing secret; old secrets keep signing for the grace period.
    RotateSecret {
        /// Endpoint id or name.
        id: String,
        /// Grace period, e.g. "24h"; "0s" drops the replaced secret now.
        #[arg(long, default_value = "24h")]
        grace: String,
        /// Also stop every secret still retiring from earlier rotations: only the new one signs.
        #[arg(long)]
        revoke_previous: bool,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hookbus apps …`.
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// List applications.
    List {
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Create an application.
    Create {
        /// The host's own unique key (e.g. a customer id).
        #[arg(long)]
        uid: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete an application with its endpoints, dead letters and tokens.
    Delete {
        /// Application id or uid.
        #[arg(value_name = "APP")]
        application: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Create an application-scoped API token; prints it once.
    CreateToken {
        /// Application id or uid.
        #[arg(value_name = "APP")]
        application: String,
        /// A label for it.
        #[arg(long, default_value = "")]
        name: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// List an application's tokens (prefixes only).
    Tokens {
        /// Application id or uid.
        #[arg(value_name = "APP")]
        application: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token.
    RevokeToken {
        /// Application id or uid.
        #[arg(value_name = "APP")]
        application: String,
        /// Token id (tok_…).
        token: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hookbus event-types …`.
#[derive(Subcommand, Debug)]
pub enum EventTypeCommand {
    /// List the catalogue.
    List {
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a type from a JSON file (`-` for stdin): name, description, schema, deprecated, example.
    Create {
        /// JSON definition.
        #[arg(long)]
        file: PathBuf,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Mark a type deprecated (publishes still accepted, with a warning).
    Deprecate {
        /// Event type.
        name: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a type from the catalogue.
    Delete {
        /// Event type.
        name: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hookbus deliveries …`.
#[derive(Subcommand, Debug)]
pub enum DeliveryCommand {
    /// List an endpoint's deliveries.
    List {
        /// Endpoint id or name.
        endpoint: String,
        /// pending, failed, delivered, dead or filtered.
        #[arg(long)]
        status: Option<String>,
        /// How many (newest first).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this delivery (the cursor printed under a full page).
        #[arg(long)]
        cursor: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a delivery with every attempt.
    Get {
        /// Delivery id.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Attempt a finished delivery again.
    Retry {
        /// Delivery id.
        id: String,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

/// Filters for dead-letter commands.
#[derive(Args, Debug, Clone)]
pub struct DlqFilter {
    /// Endpoint id or name.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Dead at or after: a duration back from now (`30m`, `1h`, `7d`) or a time (RFC 3339 or a date).
    #[arg(long)]
    pub since: Option<String>,
    /// Dead before: a duration back from now or a time.
    #[arg(long)]
    pub until: Option<String>,
}

/// `hookbus dlq …`.
#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// List dead letters.
    List {
        /// Which dead letters.
        #[command(flatten)]
        filter: DlqFilter,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after this dead letter (the cursor printed under a full page).
        #[arg(long)]
        cursor: Option<String>,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Replay dead letters (progress bar on a terminal).
    Replay {
        /// Which dead letters.
        #[command(flatten)]
        filter: DlqFilter,
        /// Only these delivery ids (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Only show what would be replayed.
        #[arg(long)]
        dry_run: bool,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete dead letters for good (asks first when no filter is given).
    Purge {
        /// Which dead letters.
        #[command(flatten)]
        filter: DlqFilter,
        /// Only show what would be purged.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before purging every dead letter.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Server, token and output format.
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

/// Install the global tracing subscriber (the binary's choice, never the library's).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal; log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run a parsed command line; the binary's whole `main`.
pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, log_format } => serve(config, log_format).await,
        Command::CheckConfig { config } => local::check_config(config),
        Command::Transform(TransformCommand::Test { args, remote }) => {
            transform_cmds::test(args, &remote).await
        }
        Command::Verify(args) => local::verify(&args),
        Command::Endpoints(c) => endpoint_cmds::endpoints(c).await,
        Command::Publish {
            event_type,
            data,
            idempotency_key,
            remote,
        } => history::publish(&remote, &event_type, &data, idempotency_key).await,
        Command::Deliveries(c) => history::deliveries(c).await,
        Command::Dlq(c) => history::dlq(c).await,
        Command::Stats { endpoint, remote } => history::stats(&remote, endpoint.as_deref()).await,
        Command::Apps(c) => apps_cmds::apps(c).await,
        Command::EventTypes(c) => apps_cmds::event_types(c).await,
    }
}

async fn serve(config: Option<PathBuf>, log_format: LogFormat) -> ExitCode {
    init_logging(log_format);
    if let Some((before, after)) = crate::server::raise_descriptor_limit() {
        tracing::info!(
            before,
            after,
            "File descriptor limit raised from {before} to {after}."
        );
    }
    let cfg = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics = match crate::telemetry::recorder::install() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "Metrics recorder not installed; /metrics disabled.");
            None
        }
    };
    match crate::run(cfg, metrics, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::error_report(&e));
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
