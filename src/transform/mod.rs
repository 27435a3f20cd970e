//! Transforms: per-endpoint Rhai scripts (and the built-in Slack, Discord and
//! Teams formats) that reshape an event before it is signed and sent.
//!
//! One immutable, `sync` [`rhai::Engine`] is built from [`ScriptLimits`]
//! ([`engine`], with the [`helpers`] library) and shared by the threads of
//! the [`pool`], which hands CPU shares fairly between endpoints ([`cpu`]):
//! a script that burns its whole budget costs its own endpoint, never the
//! bus, a delivery thread or another endpoint's scripts. A run's deadline,
//! log capture and CPU share live in a thread-local [`context`]. Scripts
//! compile once per endpoint version into an `Arc<AST>` ([`script`]); JSON
//! becomes a `Dynamic` once per event ([`convert`]); errors are put in the
//! author's words by [`diagnose`]; [`dry_run`] serves the API, CLI and
//! playground.

pub mod builtin;
pub mod context;
pub mod convert;
pub mod cpu;
pub mod diagnose;
pub mod dry_run;
pub mod engine;
pub mod event_info;
pub mod helpers;
pub mod limits;
pub mod pool;
pub mod run;
pub mod script;

pub use limits::ScriptLimits;
pub use run::Rendered;
pub use script::{Compiled, TransformSpec};

/// Errors compiling or running a transform.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TransformError {
    /// The script does not compile.
    #[error("{detail}")]
    Compile {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
        /// Where (script, line, column), the line under a caret, and a hint.
        detail: String,
    },
    /// The script compiles but defines neither `transform` nor `handler` correctly.
    #[error("{0}")]
    Contract(String),
    /// A script file could not be read.
    #[error("cannot read script {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The script failed or hit a limit while running.
    #[error("{message}")]
    Runtime {
        /// Bounded kind: runtime, too_many_operations, stack_overflow,
        /// data_too_large, timeout, panic.
        kind: &'static str,
        /// The error with its position.
        message: String,
    },
    /// The script returned something that cannot be sent.
    #[error("invalid output: {0}")]
    BadOutput(String),
    /// The output exceeds `max_output_bytes`.
    #[error("output of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Output size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl TransformError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TransformError::Compile { .. } => "compile",
            TransformError::Contract(_) => "contract",
            TransformError::Io { .. } => "io",
            TransformError::Runtime { kind, .. } => kind,
            TransformError::BadOutput(_) => "bad_output",
            TransformError::OutputTooLarge { .. } => "output_too_large",
        }
    }
}
