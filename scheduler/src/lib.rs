//! Scheduler: cron schedules that mail reports.
//!
//! Not built yet: this crate is a placeholder until its issue is taken up. The event contracts it will
//! read and write are in `sightline-schemas`.
