//! Enrich: face descriptors and watchlist matching, from detections to enriched events.
//!
//! - [`describe`]: which detections get a descriptor (quality gate) and their aligned faces;
//! - [`index`]: the in-memory watchlist index (exact SIMD search behind a trait an approximate index
//!   can implement), lists scoped to streams, top-k per list above its threshold;
//! - [`watchlists`]: lists, people and descriptors in PostgreSQL, and the index kept current through
//!   change notifications;
//! - [`tracks`]: what is remembered of the face tracks being enriched (descriptors of their best
//!   shots, their best matches);
//! - [`pipeline`]: the consumer-group loop from `sightline.detections.v1` to `sightline.events.v1`,
//!   with its delivery guarantee;
//! - [`api`]: the watchlists REST API (enrolment from an uploaded photo);
//! - [`metrics`]: Prometheus metrics.
//!
//! Face alignment and descriptors come from `sightline-vision` (shared with ingest); the watchlist
//! tables are `schemas/postgres/0003_watchlists.sql`.

pub mod api;
pub mod describe;
pub mod index;
pub mod metrics;
pub mod pipeline;
pub mod tracks;
pub mod watchlists;
