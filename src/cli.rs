//! The command-line front end: `hookbus serve`, `check-config`, and `publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// hookbus — webhook delivery engine with durable queues, wildcard
/// subscriptions and signed deliveries.
#[derive(Parser, Debug)]
#[command(name = "hookbus", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    /// Validate a config file and report every problem.
    CheckConfig {
        /// Config file (TOML).
        #[arg(short, long, default_value = "hookbus.toml")]
        config: PathBuf,
    },
    /// Work with transform scripts.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// Publish one event to a running server.
    Publish {
        /// Event type, e.g. order.created.
        event_type: String,
        /// Event data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Server base URL.
        #[arg(long, env = "HOOKBUS_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// API token.
        #[arg(long, env = "HOOKBUS_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Install the global tracing subscriber (the binary's choice, never the library's).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `hookbus transform …`.
#[derive(Subcommand, Debug)]
pub enum TransformCommand {
    /// Dry-run a script file on an event file, offline; prints `{output, headers, skipped, error, duration_us}`.
    Test {
        /// The `.rhai` script.
        file: PathBuf,
        /// A JSON event: `{"type": "...", "data": {...}, "metadata": {...}}`.
        #[arg(long)]
        event: PathBuf,
        /// `env` variables for the script, as KEY=VALUE (repeatable).
        #[arg(long = "env", value_parser = parse_kv)]
        env: Vec<(String, String)>,
        /// Config file whose `[transforms]` limits apply (defaults otherwise).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

/// Run a parsed command line; the binary's whole `main`.
pub async fn main(cli: Cli) -> ExitCode {
    let log_format = match &cli.command {
        Command::Serve { log_format, .. } => *log_format,
        _ => LogFormat::Text,
    };
    init_logging(log_format);
    match cli.command {
        Command::Serve { config, .. } => {
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
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { config } => match Config::load(Some(&config)) {
            Ok(c) => {
                println!("{}: ok ({} endpoints)", config.display(), c.endpoints.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Publish {
            event_type,
            data,
            url,
            token,
        } => publish(&url, token, &event_type, &data).await,
        Command::Transform(TransformCommand::Test {
            file,
            event,
            env,
            config,
        }) => transform_test(&file, &event, env, config.as_deref()),
    }
}

async fn publish(base: &str, token: Option<String>, event_type: &str, data: &str) -> ExitCode {
    let data: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --data is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let client = awc::Client::default();
    let mut req = client.post(format!("{}/v1/events", base.trim_end_matches('/')));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let body = serde_json::json!({"type": event_type, "data": data});
    match req.send_json(&body).await {
        Ok(mut resp) => {
            let bytes = resp.body().await.unwrap_or_default();
            println!("{}", String::from_utf8_lossy(&bytes));
            if resp.status().is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: cannot reach {base}: {e}");
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

fn transform_test(
    file: &std::path::Path,
    event: &std::path::Path,
    env: Vec<(String, String)>,
    config: Option<&std::path::Path>,
) -> ExitCode {
    use crate::transform::{dry_run, engine, script};
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let limits = match config.map(Config::from_file).transpose() {
        Ok(c) => c.map(|c| c.transforms).unwrap_or_default(),
        Err(e) => return fail(e.to_string()),
    };
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let req: crate::PublishRequest = match std::fs::read(event)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => return fail(format!("event file {}: {e}", event.display())),
    };
    if let Some((f, m)) = req.problems().into_iter().next() {
        return fail(format!("event file {}: {f}: {m}", event.display()));
    }
    let engine = engine::build(&limits);
    let compiled = match script::compile(&engine, &source, env.into_iter().collect()) {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let spec = crate::endpoint::spec::EndpointSpec::new("dry-run", "http://127.0.0.1/", &[]);
    let result = dry_run::dry_run(
        &engine,
        Some(&compiled),
        &crate::Event::accept(req),
        &spec,
        limits.max_output_bytes,
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    if result.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
