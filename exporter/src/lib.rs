//! Exporter: PDF and CSV reports from the warehouse.
//!
//! Not built yet: this crate is a placeholder until its issue is taken up. The event contracts it will
//! read and write are in `sightline-schemas`.
