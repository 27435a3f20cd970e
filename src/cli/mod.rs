//! The command-line front end: the server (`serve`), offline tools
//! (`check-config`, `transform test`, `verify`) and an API client for a
//! running server (`endpoints`, `publish`, `deliveries`, `dlq`, `stats`).
//!
//! Files: `client` (HTTP calls, failures, exit codes), `endpoint_cmds`,
//! `apps_cmds`, `history` and `dlq_cmds` (the client commands, written for
//! people, `--format json` for scripts), `output` (tables, blocks), `when` (`--since 1h`), `local`
//! (offline commands), `transform_cmds` (`transform test`, offline or
//! against a server).
//!
//! The arguments are `args` (top level) and `commands` (the client
//! commands' flags); `run` runs a parsed command line.

mod apps_cmds;
mod args;
mod client;
mod commands;
mod dlq_cmds;
mod endpoint_cmds;
mod history;
mod local;
mod output;
mod run;
mod transform_cmds;
mod when;

pub use args::{Cli, Command, LogFormat};
pub use commands::{
    AppCommand, DeliveryCommand, DlqCommand, DlqFilter, EndpointCommand, EventTypeCommand,
    OutputFormat, Remote, TransformCommand,
};
pub use run::{init_logging, main, shutdown_signal};
