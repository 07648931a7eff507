//! Enrich: face descriptors and watchlist matching, from detections to enriched events.
//!
//! Built so far (issue #4 is in progress):
//! - [`index`]: the in-memory watchlist index (exact SIMD search behind a trait an approximate
//!   index can implement), lists scoped to streams, top-k per list above its threshold.
//!
//! Face alignment and descriptors are in `sightline-vision` (shared with ingest); the watchlist
//! tables are `schemas/postgres/0003_watchlists.sql`.

pub mod index;
