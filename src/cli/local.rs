//! Offline commands: `check-config`, `verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::sign::{self, Scheme};

/// `hookbus check-config`: `-c` (or `$HOOKBUS_CONFIG`, which clap folds into
/// it), else `./hookbus.toml`; always says which file it read.
pub fn check_config(config: Option<PathBuf>) -> ExitCode {
    let (path, from) = match config {
        Some(p) => (p, "given by -c/--config or HOOKBUS_CONFIG"),
        None => (PathBuf::from("hookbus.toml"), "the default"),
    };
    if !path.exists() {
        eprintln!(
            "error: no config file at {} ({from}); give one with -c FILE or HOOKBUS_CONFIG \
             (hookbus.example.toml documents every option)",
            path.display()
        );
        return ExitCode::from(2);
    }
    println!("checking {} ({from})", path.display());
    match Config::load(Some(&path)) {
        Ok(c) => {
            let names: Vec<&str> = c.endpoints.iter().map(|e| e.name.as_str()).collect();
            if let Some(cl) = &c.cluster {
                println!(
                    "cluster mode: node {} on NATS {} (replicas {}, partitions {})",
                    cl.node_name_or(&c.server.listen),
                    cl.nats_urls.join(", "),
                    cl.replicas,
                    cl.partitions
                );
            }
            println!(
                "{}: ok ({} endpoint{}{})",
                path.display(),
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `hookbus verify` arguments.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The endpoint's signing secret (`whsec_…` for standard, the raw secret for sha256).
    #[arg(long, env = "HOOKBUS_SIGNING_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The raw request body: a file, or `-` for stdin.
    #[arg(long)]
    pub body: PathBuf,
    /// A received header as `name: value` (repeatable): webhook-id, webhook-timestamp,
    /// webhook-signature, or x-webhook-timestamp and x-webhook-signature.
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Accept timestamps at most this many seconds from now (replay protection); 0 disables.
    #[arg(long, default_value_t = 300)]
    pub tolerance: u64,
}

/// `hookbus verify`: exit 0 when valid, 1 when not, 2 on bad input.
pub fn verify(args: &VerifyArgs) -> ExitCode {
    let body = if args.body.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map(|_| b)
    } else {
        std::fs::read(&args.body)
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read body: {e}");
            return ExitCode::from(2);
        }
    };
    let header = |name: &str| {
        args.headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let (scheme, id, ts, sig) = match (header("webhook-signature"), header("x-webhook-signature")) {
        (Some(sig), _) => (
            Scheme::Standard,
            header("webhook-id").unwrap_or_default(),
            header("webhook-timestamp"),
            sig,
        ),
        (None, Some(sig)) => (
            Scheme::Sha256,
            String::new(),
            header("x-webhook-timestamp"),
            sig,
        ),
        (None, None) => {
            eprintln!(
                "error: give the signature header: -H 'webhook-signature: …' or -H 'x-webhook-signature: …'"
            );
            return ExitCode::from(2);
        }
    };
    let Some(ts) = ts.and_then(|t| t.parse::<i64>().ok()) else {
        eprintln!("error: a numeric webhook-timestamp (or x-webhook-timestamp) header is required");
        return ExitCode::from(2);
    };
    let now = (crate::ids::now_ms() / 1000) as i64;
    if args.tolerance > 0 && now.abs_diff(ts) > args.tolerance {
        println!(
            "invalid: timestamp {ts} is more than {}s from now",
            args.tolerance
        );
        return ExitCode::FAILURE;
    }
    match sign::verify(scheme, &args.secret, &id, ts, &body, &sig) {
        Ok(true) => {
            println!(
                "valid ({} signature)",
                if scheme == Scheme::Standard {
                    "standard"
                } else {
                    "sha256"
                }
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("invalid: no signature matches this secret and body");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
