//! The notifier's Prometheus metrics (`sightline_notifier_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sightline_common::consumer::{ConsumerMetrics, ReasonLabel};

/// Labels of a delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    /// `webhook`, `email`, `kafka` (or `live`).
    pub channel: String,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
}

/// Label naming a channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// The channel.
    pub channel: String,
}

/// What the notifier counts.
#[derive(Clone, Debug)]
pub struct NotifierMetrics {
    /// What the consumer runtime counts: events read, dead letters, lag, commit failures, the group.
    pub consumer: ConsumerMetrics,
    /// Alerts raised (stored, deliveries queued).
    pub raised: Counter,
    /// Alerts not raised, by reason: `cooldown` (the person was alerted on the stream within the
    /// rule's cooldown) or `stale` (the event was appended longer ago than `max_event_age_secs`).
    pub skipped: Family<ReasonLabel, Counter>,
    /// Seconds to store one alert with its deliveries.
    pub raise_seconds: Histogram,
    /// Delivery attempts by channel and outcome.
    pub attempts: Family<DeliveryLabel, Counter>,
    /// Seconds from the raising report's capture to the alert's delivery, by channel.
    pub delivery_latency_seconds: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    /// Failed reads of track keys (retried).
    pub key_errors: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.025, 2.0, 14))
}

impl NotifierMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            consumer: ConsumerMetrics::register(registry, "notifier"),
            raised: Counter::default(),
            skipped: Family::default(),
            raise_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            attempts: Family::default(),
            delivery_latency_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            key_errors: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("sightline_notifier");
        r.register("alerts_raised", "Alerts raised", metrics.raised.clone());
        r.register("alerts_skipped", "Alerts not raised (cooldown, stale event), by reason", metrics.skipped.clone());
        r.register("raise_seconds", "Time to store one alert with its deliveries", metrics.raise_seconds.clone());
        r.register("delivery_attempts", "Delivery attempts by channel and outcome", metrics.attempts.clone());
        r.register(
            "delivery_latency_seconds",
            "Capture of the raising report to delivery, by channel",
            metrics.delivery_latency_seconds.clone(),
        );
        r.register("key_errors", "Failed reads of track keys (retried)", metrics.key_errors.clone());
        metrics
    }

    /// Counts one alert not raised.
    pub fn skipped(&self, reason: &str) {
        self.skipped.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    /// Counts one attempt of the alert raised by the report captured at `capture_time_ms`; a
    /// delivery also records its latency from that capture.
    pub fn attempt(&self, channel: &str, outcome: &str, capture_time_ms: i64) {
        self.attempts.get_or_create(&DeliveryLabel { channel: channel.into(), outcome: outcome.into() }).inc();
        if outcome == "delivered" {
            let latency = (sightline_common::clock::now_ms() - capture_time_ms).max(0) as f64 / 1000.0;
            self.delivery_latency_seconds.get_or_create(&ChannelLabel { channel: channel.into() }).observe(latency);
        }
    }
}
