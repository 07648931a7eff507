//! Scheduler: report schedules (cron, in PostgreSQL, managed over REST) whose reports — the
//! exporter's PDF or CSV of the warehouse's events — are mailed through an SMTP relay.
//!
//! - [`schedule`]: a schedule and its validation (cron with seconds, UTC);
//! - [`store`]: schedules and deliveries in PostgreSQL; due runs are claimed with row locks, so any
//!   number of instances send each run once;
//! - [`runner`]: the loop that builds, mails and records, retrying with backoff;
//! - [`api`]: the `/v1/schedules` routes.
//!
//! Delivery is at least once: a crash after the relay accepted a mail but before it was recorded
//! sends it again, with the same Message-ID.

pub mod api;
pub mod runner;
pub mod schedule;
pub mod store;
