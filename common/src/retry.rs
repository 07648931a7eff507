//! One retry policy for every service: delays that double from an initial value up to a cap, each
//! with jitter (a random share of up to half the delay is taken off), so many clients that failed
//! together do not retry together.

use std::time::Duration;

/// Capped exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, next: initial }
    }

    /// The delay before the next attempt (between half of and the full nominal delay); the nominal
    /// delay then doubles, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        with_jitter(nominal)
    }

    /// The delay before the retry that follows `failures` failed attempts in a row (the first retry
    /// follows one failure), for callers that keep the count elsewhere (a database row, a header).
    pub fn delay_after(initial: Duration, max: Duration, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        with_jitter(initial.saturating_mul(1 << doublings).min(max))
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    /// Sleeps the next delay; `false` if `shutdown` came first.
    pub async fn pause(&mut self, shutdown: &mut crate::shutdown::Shutdown) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = shutdown.requested() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// Between half of and all of `nominal`.
fn with_jitter(nominal: Duration) -> Duration {
    nominal.mul_f64(1.0 - 0.5 * jitter_fraction())
}

/// A number in [0, 1) that differs between calls and processes (not for cryptography).
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_below_the_nominal_delay() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let nominal = [100, 200, 400, 400, 400];
        let delays: Vec<Duration> = nominal.iter().map(|_| backoff.next_delay()).collect();
        for (delay, nominal) in delays.iter().zip(nominal) {
            let nominal = Duration::from_millis(nominal);
            assert!(*delay <= nominal && *delay >= nominal / 2, "{delay:?} for {nominal:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
        let spread: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay()).collect();
        assert!(spread.len() > 10, "jitter varies: {spread:?}");
        for (failures, nominal) in [(1, 100), (2, 200), (3, 400), (9, 400), (u32::MAX, 400)] {
            let delay = Backoff::delay_after(Duration::from_millis(100), Duration::from_millis(400), failures);
            let nominal = Duration::from_millis(nominal);
            assert!(delay <= nominal && delay >= nominal / 2, "{delay:?} after {failures} failures");
        }
    }
}
