//! The one consumer runtime of every service that reads a topic in a consumer group (writer, enrich,
//! notifier): the group consumer and its callbacks, the group's health, dead letters and commits.
//!
//! What each service still writes itself is what it does with a message. The rules they share live
//! here:
//! - **offsets are committed only after the outputs are acknowledged** (the caller calls
//!   [`GroupConsumer::commit`] once its rows landed or its records were acknowledged), only for
//!   partitions this member still owns, on a blocking thread (a synchronous commit is a network
//!   round trip);
//! - **a message that cannot be processed goes to the dead-letter topic** with its reason and source
//!   position ([`GroupConsumer::dead_letter`]), retried with the shared backoff until the broker
//!   acknowledged it or shutdown came;
//! - **the group's health is visible**: owned partitions, group lag and stalls on `/readyz`
//!   ([`crate::group::GroupWatch`]), per-partition lag from librdkafka's statistics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message as _};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::group::{GroupMetrics, GroupWatch, WATCH_INTERVAL};
use crate::http::Readiness;
use crate::kafka::{
    Assignment, DeadLetterSink, KafkaError, KafkaSettings, SourcePosition, dead_letter_until_acknowledged,
};
use crate::shutdown::Shutdown;

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

/// What the runtime counts for its service.
#[derive(Clone, Debug, Default)]
pub struct ConsumerMetrics {
    /// Messages read.
    pub consumed: Counter,
    /// Messages sent to the dead-letter topic, by reason.
    pub dead_lettered: Family<ReasonLabel, Counter>,
    /// Messages behind the high watermark, per partition this member reads (librdkafka statistics).
    pub lag: Family<PartitionLabel, Gauge>,
    /// Offset commits that failed (the outputs are acknowledged; the range is replayed and
    /// deduplicated by id).
    pub commit_failures: Counter,
    /// This member's partitions and the group's lag ([`crate::group`]).
    pub group: GroupMetrics,
}

impl ConsumerMetrics {
    /// Creates the metrics and registers them as `sightline_<service>_consumed`, `_dead_lettered`,
    /// `_consumer_lag` and `_commit_failures`, plus the group's `sightline_consumer_*`.
    pub fn register(registry: &mut Registry, service: &str) -> Self {
        let metrics = Self { group: GroupMetrics::register(registry), ..Self::default() };
        let r = registry.sub_registry_with_prefix(format!("sightline_{service}"));
        r.register("consumed", "Messages read from Kafka", metrics.consumed.clone());
        r.register("dead_lettered", "Messages sent to the dead-letter topic", metrics.dead_lettered.clone());
        r.register("consumer_lag", "Messages behind the high watermark", metrics.lag.clone());
        r.register("commit_failures", "Offset commits that failed", metrics.commit_failures.clone());
        metrics
    }

    /// Counts one dead letter.
    pub fn dead_lettered(&self, reason: &str) {
        self.dead_lettered.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }
}

/// How a service's group consumer is set up.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// The topic read.
    pub topic: String,
    /// The consumer group; members of one group share the topic's partitions.
    pub group_id: String,
    /// Where messages that cannot be processed go.
    pub dlq_topic: String,
    /// The service's name, written with the group in every dead letter (`service/group`).
    pub service: String,
    /// A member silent this long leaves the group and its partitions move on, ms.
    pub session_timeout_ms: u32,
    /// The group is stalled when it has lag and no committed offset moved for this long: the member
    /// is then not ready, and rejoins if it owns no partition.
    pub stall_after: Duration,
    /// Longest time the broker may hold a fetch waiting for data (`fetch.wait.max.ms`).
    pub fetch_wait_max_ms: u32,
    /// librdkafka's prefetch queue bound in KiB (`queued.max.messages.kbytes`); its default if `None`.
    pub prefetch_max_kbytes: Option<u32>,
}

/// The consumer's callbacks: follows the assignment (commits go only to owned partitions) and
/// publishes per-partition lag from librdkafka's statistics.
pub struct GroupContext {
    topic: String,
    assignment: Assignment,
    lag: Family<PartitionLabel, Gauge>,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    self.lag.get_or_create(&PartitionLabel { partition: *partition }).set(stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.assignment.apply(&self.topic, rebalance);
    }
}

/// A message as read from the group.
pub type Message<'a> = BorrowedMessage<'a>;

/// A member of a consumer group on one topic, with its dead-letter sink; see the module documentation.
pub struct GroupConsumer {
    consumer: Arc<StreamConsumer<GroupContext>>,
    topic: String,
    assignment: Assignment,
    dead_letters: DeadLetterSink,
    metrics: ConsumerMetrics,
}

impl GroupConsumer {
    /// Creates the consumer, subscribes it and starts watching the group (until `shutdown`). Offsets
    /// are never committed automatically; a group without committed offsets starts at the earliest.
    pub fn start(
        spec: &ConsumerSpec,
        readiness: Readiness,
        metrics: ConsumerMetrics,
        shutdown: &Shutdown,
    ) -> Result<Self, KafkaError> {
        let assignment = Assignment::default();
        let context =
            GroupContext { topic: spec.topic.clone(), assignment: assignment.clone(), lag: metrics.lag.clone() };
        let mut config = spec.kafka.client_config();
        config
            .set("group.id", &spec.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", spec.session_timeout_ms.to_string())
            .set("max.poll.interval.ms", "600000")
            .set("fetch.wait.max.ms", spec.fetch_wait_max_ms.to_string())
            .set("statistics.interval.ms", "5000");
        if let Some(kbytes) = spec.prefetch_max_kbytes {
            config.set("queued.max.messages.kbytes", kbytes.to_string());
        }
        let consumer: Arc<StreamConsumer<GroupContext>> = Arc::new(
            config
                .create_with_context(context)
                .map_err(|source| KafkaError::Client { action: "creating the group consumer".into(), source })?,
        );
        consumer
            .subscribe(&[&spec.topic])
            .map_err(|source| KafkaError::Client { action: format!("subscribing to {}", spec.topic), source })?;
        let dead_letters = DeadLetterSink::new(
            &spec.kafka,
            spec.dlq_topic.clone(),
            format!("{}/{}", spec.service, spec.group_id),
            readiness.clone(),
        )?;
        let watch = GroupWatch {
            kafka: spec.kafka.clone(),
            topic: spec.topic.clone(),
            group: spec.group_id.clone(),
            assignment: assignment.clone(),
            readiness,
            metrics: metrics.group.clone(),
            stall_after: spec.stall_after,
            interval: WATCH_INTERVAL,
        };
        watch.spawn_for(consumer.clone(), shutdown.clone());
        Ok(Self { consumer, topic: spec.topic.clone(), assignment, dead_letters, metrics })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next message; consumer errors are logged and skipped (librdkafka recovers by itself).
    pub async fn recv(&self) -> Message<'_> {
        loop {
            match self.consumer.recv().await {
                Ok(message) => {
                    self.metrics.consumed.inc();
                    return message;
                }
                Err(error) => tracing::warn!(%error, "kafka consumer error"),
            }
        }
    }

    /// A batch: the next message, then whatever else arrives within `linger`, up to `max` messages.
    /// `None` if shutdown came before the first.
    pub async fn recv_batch(&self, max: usize, linger: Duration, shutdown: &mut Shutdown) -> Option<Vec<Message<'_>>> {
        let first = tokio::select! {
            _ = shutdown.requested() => return None,
            message = self.recv() => message,
        };
        let mut batch = vec![first];
        let until = Instant::now() + linger;
        while batch.len() < max.max(1) {
            match tokio::time::timeout_at(until.into(), self.recv()).await {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Sends `message` to the dead-letter topic with `reason` and `detail` and waits until the broker
    /// acknowledged it (retrying with backoff); `false` if shutdown came first (the message then
    /// stays uncommitted and is read again).
    pub async fn dead_letter(&self, message: &Message<'_>, reason: &str, detail: &str, shutdown: &Shutdown) -> bool {
        let source =
            SourcePosition { topic: message.topic(), partition: message.partition(), offset: message.offset() };
        let sent = dead_letter_until_acknowledged(
            &self.dead_letters,
            source,
            message.key(),
            message.payload(),
            reason,
            detail,
            shutdown,
        )
        .await;
        if sent {
            self.metrics.dead_lettered(reason);
        }
        sent
    }

    /// Commits `next_offsets` ((partition, next offset to read) pairs) for the partitions this member
    /// still owns, on a blocking thread. Call it only once everything read before those offsets has
    /// its outputs acknowledged. A failure is counted and logged, not returned: the outputs are safe
    /// and the range is read again after a restart (outputs are idempotent by id).
    pub async fn commit(&self, next_offsets: impl IntoIterator<Item = (i32, i64)>) {
        let offsets = match self.assignment.owned_offsets(&self.topic, next_offsets) {
            Ok(offsets) if offsets.count() == 0 => return,
            Ok(offsets) => offsets,
            Err(error) => {
                tracing::warn!(%error, "building the offsets to commit failed");
                self.metrics.commit_failures.inc();
                return;
            }
        };
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await;
        let error = match result {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        self.metrics.commit_failures.inc();
        tracing::warn!(%error, "offset commit failed; the range will be read again and deduplicated by id");
    }

    /// Leaves the group (its partitions move to the other members at once).
    pub fn stop(&self) {
        self.consumer.unsubscribe();
    }
}

/// The next offset to read per partition after `messages`.
pub fn next_offsets<'a, 'm: 'a>(messages: impl IntoIterator<Item = &'a Message<'m>>) -> BTreeMap<i32, i64> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for message in messages {
        let entry = next.entry(message.partition()).or_insert(0);
        *entry = (*entry).max(message.offset() + 1);
    }
    next
}
