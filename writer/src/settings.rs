//! The writer's settings: defaults, then `writer.toml`, then `SIGHTLINE_WRITER__*` variables.

use serde::{Deserialize, Serialize};
use sightline_common::kafka::KafkaSettings;
use sightline_common::warehouse::ClickHouseSettings;
use std::time::{Duration, Instant};

/// Everything the writer can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterSettings {
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// ClickHouse connection.
    pub clickhouse: ClickHouseSettings,
    /// Topic of enriched events to land.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Consumer group; writers in one group share the topic's partitions.
    pub group_id: String,
    /// A batch is flushed once it holds this many events...
    pub batch_max_events: usize,
    /// ...or this many payload bytes...
    pub batch_max_bytes: usize,
    /// ...or its first event has waited this long...
    pub batch_max_wait_ms: u64,
    /// ...or no message arrived for this long (the consumer caught up: land what it has).
    pub batch_idle_ms: u64,
    /// Consumer group session timeout: a writer silent this long is evicted and its partitions
    /// reassigned. 6 s: on tansu 0.6 a member killed with a 10 s session left its replacements with
    /// no partitions; Apache Kafka's brokers accept 6-1800 s by default.
    pub session_timeout_ms: u32,
    /// The group is stalled when it has lag and no committed offset moved for this long: the writer
    /// is then not ready, and rejoins the group if it owns no partition ([`sightline_common::group`]).
    pub stall_after_ms: u64,
    /// Batches consumed but not yet inserted, at most (bounds memory with `batch_max_bytes`).
    pub batches_in_flight: usize,
    /// Longest time the broker may hold a fetch waiting for data (`fetch.wait.max.ms`). Low values
    /// matter on brokers that hold every fetch for the full wait (tansu: 500 ms, the librdkafka
    /// default, cuts throughput about eightfold); on Apache Kafka they only cost idle round trips.
    pub fetch_wait_max_ms: u32,
    /// librdkafka's prefetch queue bound, in KiB (`queued.max.messages.kbytes`).
    pub prefetch_max_kbytes: u32,
    /// First retry delay after a failed insert; doubles up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// How long a shutdown waits for the last batch to land before leaving it to be replayed.
    pub shutdown_grace_ms: u64,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    pub http_addr: String,
    /// Apply pending ClickHouse migrations at start.
    pub migrate_on_start: bool,
    /// Compress inserts with LZ4 (worth it across a network; on loopback `false` is faster).
    pub insert_lz4: bool,
    /// Bounds on the fields of an event; an event beyond them is dead-lettered.
    pub limits: sightline_schemas::validate::Limits,
    /// `production` refuses an empty ClickHouse password at start.
    pub deployment: sightline_common::config::Deployment,
    /// PostgreSQL URL: the track keys that open the events' sealed biometric fields.
    pub postgres_url: String,
    /// The key-encryption key and how long opened keys are kept (`[privacy]`).
    pub privacy: sightline_common::privacy::PrivacySettings,
    /// Where best shots are stored (`[objects]`).
    pub objects: sightline_common::objects::ObjectStoreSettings,
    /// Move the best shots landed before the object store out of the warehouse at start, in the
    /// background (see [`crate::images`]).
    pub move_images_on_start: bool,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            clickhouse: ClickHouseSettings::default(),
            topic: sightline_schemas::topics::EVENTS_V1.into(),
            dlq_topic: sightline_schemas::topics::DLQ_V1.into(),
            group_id: "sightline-writer".into(),
            batch_max_events: 2_000,
            batch_max_bytes: 16 * 1024 * 1024,
            batch_max_wait_ms: 1_000,
            batch_idle_ms: 100,
            session_timeout_ms: 6_000,
            stall_after_ms: 30_000,
            batches_in_flight: 2,
            fetch_wait_max_ms: 20,
            prefetch_max_kbytes: 32 * 1024,
            retry_initial_ms: 200,
            retry_max_ms: 5_000,
            shutdown_grace_ms: 30_000,
            http_addr: "127.0.0.1:9464".into(),
            migrate_on_start: true,
            insert_lz4: false,
            limits: Default::default(),
            deployment: Default::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            privacy: Default::default(),
            objects: Default::default(),
            move_images_on_start: true,
        }
    }
}

impl WriterSettings {
    /// When the batch that started at `started`, last fed at `last_message`, must be cut.
    pub fn batch_deadline(&self, started: Instant, last_message: Instant) -> Instant {
        (started + Duration::from_millis(self.batch_max_wait_ms))
            .min(last_message + Duration::from_millis(self.batch_idle_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(relative: &str) -> WriterSettings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        sightline_common::config::load("writer_settings_test", Some(&path)).expect("shipped config loads")
    }

    #[test]
    fn shipped_configs_load() {
        let local = load("writer.toml");
        assert_eq!(local.topic, sightline_schemas::topics::EVENTS_V1);
        assert_eq!(local.batch_max_events, WriterSettings::default().batch_max_events);
        let production = load("../infra/deploy/writer.production.toml");
        assert_eq!(production.kafka.properties.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
        assert!(production.insert_lz4);
        assert_eq!(production.deployment, sightline_common::config::Deployment::Production);
    }

    #[test]
    fn a_batch_is_cut_at_its_age_or_when_idle() {
        let settings = WriterSettings { batch_max_wait_ms: 1_000, batch_idle_ms: 100, ..Default::default() };
        let t0 = Instant::now();
        assert_eq!(settings.batch_deadline(t0, t0), t0 + Duration::from_millis(100));
        let busy = t0 + Duration::from_millis(950);
        assert_eq!(settings.batch_deadline(t0, busy), t0 + Duration::from_millis(1_000));
    }
}
