//! Query: REST API and dashboard over the ClickHouse warehouse, with token auth and roles.
//!
//! Not built yet: this crate is a placeholder until its issue is taken up. The event contracts it will
//! read and write are in `sightline-schemas`.
