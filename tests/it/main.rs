//! Integration tests: one binary (RocksDB links once). Real HTTP receivers on 127.0.0.1:0.

mod api;
mod api_boundary;
mod backpressure;
mod cli;
mod crash;
mod delivery;
mod durability;
mod embedding;
mod faults;
mod first_hour;
mod guarantees;
mod host;
mod layers;
mod manage;
mod monitoring;
mod playground;
mod policy;
mod props;
mod script_errors;
mod script_isolation;
mod scripts;
mod telemetry;
mod test_send;
mod transforms;
mod utils;
