//! What starting or calling an engine can fail with, and how it reads.

use crate::bus::BusError;
use crate::config::ConfigError;
use crate::store::StoreError;

/// Errors starting or running hookbus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("cannot open store: {0}")]
    Store(#[from] StoreError),
    /// A configured endpoint was rejected.
    #[error("endpoint `{name}`: {source}")]
    Endpoint {
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: BusError,
    },
    /// A publish or management call failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The HTTP server failed (e.g. address in use).
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// An error as one line for people: its message, then each cause after `: `
/// (what `main` prints; `{e:?}` would show the Rust structure instead).
///
/// # Examples
/// ```
/// let e = hookbus::BusError::NotFound("endpoint `x`".into());
/// assert_eq!(hookbus::error_report(&e), "endpoint `x` not found");
/// ```
pub fn error_report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // thiserror's `transparent`/`{0}` often repeat the cause verbatim.
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        cause = c.source();
    }
    out
}
