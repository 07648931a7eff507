//! Enrich's Prometheus metrics (`sightline_enrich_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sightline_common::consumer::ConsumerMetrics;

/// Label naming a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: String,
}

/// Counters the pipeline updates.
#[derive(Clone, Debug)]
pub struct EnrichMetrics {
    /// What the consumer runtime counts: detections read, dead letters, lag, commit failures, the
    /// group.
    pub consumer: ConsumerMetrics,
    /// Enriched events the broker acknowledged.
    pub produced: Counter,
    /// Faces the descriptor model described.
    pub described: Counter,
    /// Face reports whose best shot the track's earlier report already had described.
    pub descriptors_reused: Counter,
    /// Detections without a descriptor, by reason.
    pub skipped: Family<ReasonLabel, Counter>,
    /// Matches reported.
    pub matches: Counter,
    /// Failed descriptor model runs (retried).
    pub model_retries: Counter,
    /// Failed reads or writes of track keys (retried).
    pub key_errors: Counter,
    /// Seconds per descriptor model run (one batch).
    pub describe_seconds: Histogram,
    /// Watchlist reloads into the index (one list or all), by outcome.
    pub watchlist_reloads: Family<OutcomeLabel, Counter>,
    /// Seconds since the index last matched the database (0 right after a successful reload).
    pub watchlist_index_age_seconds: Gauge,
}

/// Label naming how an operation ended (`ok` or `error`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `ok` or `error`.
    pub outcome: String,
}

impl EnrichMetrics {
    /// Creates the metrics and registers them under `sightline_enrich_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self { consumer: ConsumerMetrics::register(registry, "enrich"), ..Self::unregistered() };
        let r = registry.sub_registry_with_prefix("sightline_enrich");
        r.register("produced", "Enriched events acknowledged by the broker", metrics.produced.clone());
        r.register("described", "Faces the descriptor model described", metrics.described.clone());
        r.register(
            "descriptors_reused",
            "Face reports whose best shot was already described for the track's earlier report",
            metrics.descriptors_reused.clone(),
        );
        r.register("skipped", "Detections without a descriptor, by reason", metrics.skipped.clone());
        r.register("matches", "Watchlist matches reported", metrics.matches.clone());
        r.register("model_retries", "Failed descriptor model runs", metrics.model_retries.clone());
        r.register("key_errors", "Failed reads or writes of track keys (retried)", metrics.key_errors.clone());
        r.register("describe_seconds", "Descriptor model run time per batch", metrics.describe_seconds.clone());
        r.register(
            "watchlist_reloads",
            "Watchlist reloads into the index, by outcome",
            metrics.watchlist_reloads.clone(),
        );
        r.register(
            "watchlist_index_age_seconds",
            "Seconds since the watchlist index last matched the database",
            metrics.watchlist_index_age_seconds.clone(),
        );
        metrics
    }

    /// Records one watchlist reload's outcome.
    pub fn watchlist_reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.watchlist_reloads.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// Metrics that count but are not exported.
    pub fn unregistered() -> Self {
        Self {
            consumer: ConsumerMetrics::default(),
            produced: Counter::default(),
            described: Counter::default(),
            descriptors_reused: Counter::default(),
            skipped: Family::default(),
            matches: Counter::default(),
            model_retries: Counter::default(),
            key_errors: Counter::default(),
            describe_seconds: Histogram::new(exponential_buckets(0.002, 2.0, 12)),
            watchlist_reloads: Family::default(),
            watchlist_index_age_seconds: Gauge::default(),
        }
    }

    /// Records one enriched detection: its skip reason (empty when it has a descriptor) and match
    /// count.
    pub fn observe(&self, skip_reason: &str, matches: usize) {
        if !skip_reason.is_empty() {
            self.skipped.get_or_create(&ReasonLabel { reason: skip_reason.to_owned() }).inc();
        }
        self.matches.inc_by(matches as u64);
    }
}
