//! The delivery channels. Each takes one alert to one target and says how the attempt ended; the
//! delivery loop ([`crate::deliver`]) records it and decides about retries.

pub mod email;
pub mod kafka;
pub mod webhook;

/// How one delivery attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The receiver acknowledged it.
    Delivered {
        /// HTTP status (webhook), else 0.
        status_code: u16,
    },
    /// It failed in a way that may pass later (5xx, timeout, connection refused, relay down).
    Retry {
        /// HTTP status (webhook) or 0.
        status_code: u16,
        /// What happened.
        error: String,
    },
    /// It failed in a way that will not pass by retrying (4xx, refused recipient, bad target).
    Fail {
        /// HTTP status (webhook) or 0.
        status_code: u16,
        /// What happened.
        error: String,
    },
}
