//! The client commands' arguments: where a server is (`Remote`), how output
//! prints, and each resource's subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::transform_cmds;

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
