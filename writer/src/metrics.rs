//! The writer's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sightline_common::consumer::ConsumerMetrics;

/// A stream's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    /// The stream id.
    pub stream: String,
}

/// Counters and gauges the writer updates.
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    /// What the consumer runtime counts: messages read, dead letters, lag, commit failures, the group.
    pub consumer: ConsumerMetrics,
    /// Events whose insert ClickHouse acknowledged.
    pub inserted: Counter,
    /// Failed insert attempts (each is retried).
    pub insert_retries: Counter,
    /// Seconds from a batch's first message to its committed offsets.
    pub batch_latency: Histogram,
    /// Seconds one batch's inserts took.
    pub insert_duration: Histogram,
    /// Sealed parts of events landed without their biometric fields: their key is destroyed (the
    /// person erased or the data expired).
    pub erased_fields: Counter,
    /// Failed reads of track keys (retried).
    pub key_errors: Counter,
    /// Images stored in the object store (a replayed event's image is stored again).
    pub images_stored: Counter,
    /// Their bytes, per stream: the store's growth per camera (`increase(...[1d])`: per camera-day).
    pub image_bytes: Family<StreamLabel, Counter>,
    /// Images landed before the object store that were moved out of the warehouse into it.
    pub images_moved: Counter,
}

impl WriterMetrics {
    /// Creates the metrics and registers them under `sightline_writer_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            consumer: ConsumerMetrics::register(registry, "writer"),
            inserted: Counter::default(),
            insert_retries: Counter::default(),
            batch_latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            insert_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            erased_fields: Counter::default(),
            key_errors: Counter::default(),
            images_stored: Counter::default(),
            image_bytes: Family::default(),
            images_moved: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("sightline_writer");
        r.register("inserted", "Events landed in ClickHouse", metrics.inserted.clone());
        r.register("insert_retries", "Failed insert attempts", metrics.insert_retries.clone());
        r.register("batch_latency_seconds", "First message to committed offsets", metrics.batch_latency.clone());
        r.register("insert_duration_seconds", "Duration of one batch's inserts", metrics.insert_duration.clone());
        r.register(
            "erased_fields",
            "Sealed parts of events landed without their biometric fields (key destroyed: erased or expired)",
            metrics.erased_fields.clone(),
        );
        r.register("key_errors", "Failed reads of track keys (retried)", metrics.key_errors.clone());
        r.register("images_stored", "Images stored in the object store", metrics.images_stored.clone());
        r.register(
            "image_bytes",
            "Bytes of the images stored in the object store, per stream",
            metrics.image_bytes.clone(),
        );
        r.register(
            "images_moved",
            "Images landed before the object store, moved out of the warehouse into it",
            metrics.images_moved.clone(),
        );
        metrics
    }
}
