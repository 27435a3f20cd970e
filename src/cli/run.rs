//! Running a parsed command line: the server (`serve`), logging, signals.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{Cli, Command, LogFormat};
use super::commands::TransformCommand;
use super::{apps_cmds, dlq_cmds, endpoint_cmds, history, local, transform_cmds};
use crate::config::Config;

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
        Command::Dlq(c) => dlq_cmds::dlq(c).await,
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
