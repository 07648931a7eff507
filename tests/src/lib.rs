//! Test kit for Sightline's end-to-end tests and benchmarks.
//!
//! - [`loadgen`]: realistic enriched events (192-d descriptors, 10–20 KB JPEG best shots, several
//!   streams and sites, watchlist matches) and a fast idempotent producer;
//! - [`stack`]: the endpoints of the local stack (`infra/stack env`), isolated topics and databases
//!   per test, the service binaries, and a private ClickHouse server a test may stop and restart.

pub mod loadgen;
pub mod rounds;
pub mod stack;
