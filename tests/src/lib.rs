//! Test kit for Sightline's end-to-end tests and benchmarks.
//!
//! - [`loadgen`]: realistic enriched events (192-d descriptors, 10–20 KB JPEG best shots, several
//!   streams and sites, watchlist matches) and a fast idempotent producer;
//! - [`stack`]: the endpoints of the local stack (`infra/stack env`), isolated topics and databases
//!   per test, the service binaries, and a private ClickHouse server a test may stop and restart;
//! - [`alerts`]: a webhook receiver, a live-feed subscriber and the Maildir, to watch alerts arrive;
//! - [`pdf`]: PDFs rendered to PNG and read back by poppler, as their readers see them;
//! - [`web`]: every service's API behind the project's nginx, and a browser's cookies and CSRF token;
//! - [`pipeline`]: every service on the test video over RTSP, for the end-to-end test and
//!   `make bench-alert`.

pub mod alerts;
pub mod loadgen;
pub mod mail;
pub mod pdf;
pub mod pipeline;
pub mod rounds;
pub mod stack;
pub mod warehouse_load;
pub mod web;
