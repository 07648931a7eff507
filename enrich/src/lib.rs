//! Enrich: face descriptors and watchlist matching, from detections to enriched events.
//!
//! Not built yet: this crate is a placeholder until issue #4. The event contracts it will
//! read and write are in `sightline-schemas`.
