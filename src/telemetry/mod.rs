//! Telemetry: metric names, one struct per happening whose `emit()` logs and
//! counts, and (opt-in) installation of the Prometheus recorder.
//!
//! The library never installs a global recorder or logger by itself: the
//! binary (or an embedding host) decides.

pub mod board;
pub mod events;
pub mod handles;
pub mod names;
pub mod process;
pub mod recorder;
pub mod render;

pub use events::*;
pub use handles::EndpointHandles;
