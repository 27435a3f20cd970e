//! The command line's top level: `hookbus <command>` and the server's flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use super::commands::{
    AppCommand, DeliveryCommand, DlqCommand, EndpointCommand, EventTypeCommand, Remote,
    TransformCommand,
};
use super::local;

/// hookbus — webhook delivery engine with durable queues, wildcard
/// subscriptions, Rhai transforms and signed deliveries.
#[derive(Parser, Debug)]
#[command(name = "hookbus", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
