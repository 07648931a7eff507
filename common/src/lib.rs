//! Plumbing shared by Sightline's services.
//!
//! Each module is one job: [`config`] loads settings from a file plus the environment, [`telemetry`]
//! sets up logs, [`shutdown`] turns SIGTERM/SIGINT into a token, [`http`] serves `/metrics`,
//! `/healthz` and `/readyz`, [`kafka`] builds clients, creates topics, produces until acknowledged and dead-letters messages,
//! [`consumer`] is the one consumer-group runtime, [`group`] watches a consumer group's progress and
//! this member's share of it,
//! [`warehouse`] talks to ClickHouse and applies its migrations, [`relational`] applies the
//! PostgreSQL migrations, [`auth`] maps API tokens to roles, [`accounts`] keeps users, sessions and
//! login throttling, [`passwords`] hashes passwords on a bounded set of threads, [`accounts_api`] serves them, [`api`] gives every REST API the same
//! JSON errors and credential checks, [`clock`] tells the time in ms, [`retry`] is the one backoff policy, `mail` (feature `mail`)
//! sends mail through an SMTP relay, `objects` (feature `objects`) stores images and clips in an
//! S3-compatible store, [`privacy`] is the `[privacy]` settings section, [`keys`] and [`sealing`]
//! seal biometric fields with keys of their tracks (crypto-shredding).

pub mod accounts;
pub mod accounts_api;
pub mod api;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod group;
pub mod http;
pub mod kafka;
pub mod keys;
#[cfg(feature = "mail")]
pub mod mail;
#[cfg(feature = "objects")]
pub mod objects;
pub mod openapi;
pub mod passwords;
pub mod privacy;
pub mod relational;
pub mod retry;
pub mod sealing;
pub mod shutdown;
pub mod telemetry;
pub mod warehouse;
