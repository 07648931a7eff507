//! The writer's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label naming a dead-letter reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The rejection's reason class.
    pub reason: String,
}

/// Label naming a partition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// Partition number.
    pub partition: i32,
}

/// Counters and gauges the writer updates.
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    /// Messages read from Kafka.
    pub consumed: Counter,
    /// Events whose insert ClickHouse acknowledged.
    pub inserted: Counter,
    /// Messages sent to the dead-letter topic, by reason.
    pub dead_lettered: Family<ReasonLabel, Counter>,
    /// Failed insert attempts (each is retried).
    pub insert_retries: Counter,
    /// Consumer lag per partition (messages behind the high watermark), from librdkafka statistics.
    pub lag: Family<PartitionLabel, Gauge>,
    /// Seconds from a batch's first message to its committed offsets.
    pub batch_latency: Histogram,
    /// Seconds one batch's inserts took.
    pub insert_duration: Histogram,
    /// Offset commits that failed (the batch is landed; the range is replayed and deduplicated).
    pub commit_failures: Counter,
    /// This member's partitions and the group's lag ([`sightline_common::group`]).
    pub group: sightline_common::group::GroupMetrics,
}

impl WriterMetrics {
    /// Creates the metrics and registers them under `sightline_writer_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            consumed: Counter::default(),
            inserted: Counter::default(),
            dead_lettered: Family::default(),
            insert_retries: Counter::default(),
            lag: Family::default(),
            batch_latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            insert_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            commit_failures: Counter::default(),
            group: sightline_common::group::GroupMetrics::register(registry),
        };
        let r = registry.sub_registry_with_prefix("sightline_writer");
        r.register("consumed", "Messages read from Kafka", metrics.consumed.clone());
        r.register("inserted", "Events landed in ClickHouse", metrics.inserted.clone());
        r.register("dead_lettered", "Messages sent to the dead-letter topic", metrics.dead_lettered.clone());
        r.register("insert_retries", "Failed insert attempts", metrics.insert_retries.clone());
        r.register("consumer_lag", "Messages behind the high watermark", metrics.lag.clone());
        r.register("batch_latency_seconds", "First message to committed offsets", metrics.batch_latency.clone());
        r.register("insert_duration_seconds", "Duration of one batch's inserts", metrics.insert_duration.clone());
        r.register("commit_failures", "Offset commits that failed", metrics.commit_failures.clone());
        metrics
    }
}
