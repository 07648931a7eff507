//! Query: the REST API analysts use (through the web app) to explore what the pipeline saw, read from the
//! ClickHouse warehouse the writer fills.
//!
//! - [`params`]: request parameters (time ranges, filters, pages) validated into clear 400s;
//! - [`store`]: the warehouse reads, the SQL of `schemas/clickhouse/queries` (checked on ClickHouse
//!   18.16 and current ClickHouse alike);
//! - [`hour_counts`]: tracks per hour, stream and kind, cached per day while the day's parts stay the
//!   same;
//! - [`face_search`]: search by face (sign sketches, then exact similarity); [`audit`]: every search
//!   recorded in PostgreSQL;
//! - [`erasure`]: erasure of a person or tracks (keys destroyed, clear copies deleted, receipt kept);
//! - [`retention`]: each class of data expired when its period ends, hourly, by the erasure's path;
//! - [`reports`]: CSV and PDF reports of the events (rendered by `sightline-exporter`);
//! - [`api`]: the axum routes and token roles.
//!
//! The `sightline-query` binary serves them; see `query/query.toml` for its settings.

pub mod api;
pub mod audit;
pub mod erasure;
pub mod face_search;
pub mod hour_counts;
pub mod params;
pub mod records;
pub mod reports;
pub mod retention;
pub mod store;

/// This service's name in the audit log.
pub const SERVICE: &str = "query";
