//! [`Hookbus`], the cheap-to-clone handle to a running engine (the server
//! around it is `server.rs`): `engine.rs` starts, wires and stops it,
//! `calls.rs` is its API (publishing, endpoints, applications, dead
//! letters; each call is the default application's), `observe.rs` its
//! metrics and outcome stream, `error.rs` what starting it can fail with.

mod calls;
mod engine;
mod error;
mod observe;

pub use engine::Hookbus;
pub use error::{Error, error_report};
