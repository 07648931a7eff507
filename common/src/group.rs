//! Health of one consumer-group member: whether the group is making progress on its topic, and
//! whether this member has a share of the work.
//!
//! A member can be alive and subscribed yet do nothing: after a crash, some brokers (tansu 0.6 seen
//! here) leave the replacement members with empty assignments while the group's committed offsets
//! stand still. The consumer's own callbacks cannot see that; the group's committed offsets and the
//! partitions' high watermarks can. [`GroupWatch`] reads both periodically (a request each, from its
//! own client, never joining the group) and:
//! - exports the member's owned partitions and the whole group's lag;
//! - when the group has lag and none of its committed offsets moved for `stall_after`, blocks
//!   readiness (condition `assignment` if this member owns no partition, `progress` otherwise),
//!   and, owning nothing, rejoins the group (a fresh JoinGroup makes the broker rebalance);
//! - clears the condition as soon as the group's offsets move again or the lag is gone.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

use crate::http::Readiness;
use crate::kafka::{Assignment, KafkaSettings, topic_partitions};
use crate::shutdown::Shutdown;

/// The member's share of the work and the group's backlog, as metrics.
#[derive(Clone, Debug, Default)]
pub struct GroupMetrics {
    /// Partitions of the topic this member owns now.
    pub owned_partitions: Gauge,
    /// Messages of the topic not yet committed by the group (all partitions, all members).
    pub group_lag: Gauge,
    /// Times this member left and rejoined the group because it owned nothing while the group was stuck.
    pub rejoins: Counter,
}

impl GroupMetrics {
    /// Creates the metrics and registers them as `sightline_consumer_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "sightline_consumer_owned_partitions",
            "Partitions of the input topic this member owns",
            metrics.owned_partitions.clone(),
        );
        registry.register(
            "sightline_consumer_group_lag",
            "Messages of the input topic the consumer group has not committed yet",
            metrics.group_lag.clone(),
        );
        registry.register(
            "sightline_consumer_rejoins",
            "Rejoins of the group after owning no partition while the group made no progress",
            metrics.rejoins.clone(),
        );
        metrics
    }
}

/// Watches one member of `group` on `topic`; see the module documentation.
pub struct GroupWatch {
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// The topic the group consumes.
    pub topic: String,
    /// The group.
    pub group: String,
    /// This member's partitions, kept by its rebalance callback.
    pub assignment: Assignment,
    /// Where a stall is reported.
    pub readiness: Readiness,
    /// Metrics it keeps.
    pub metrics: GroupMetrics,
    /// How long the group may have lag without any committed offset moving before it is stalled.
    pub stall_after: Duration,
    /// How often it looks.
    pub interval: Duration,
}

/// How often a member's group is looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// What one look at the group found.
#[derive(Debug, Clone, Copy)]
struct Observation {
    /// Messages not committed, over all partitions.
    lag: i64,
    /// Sum of the committed offsets: any change means some member made progress.
    committed_sum: i64,
}

impl GroupWatch {
    /// Runs the watch in the background for `consumer`, which rejoins by unsubscribing and
    /// subscribing to the topic again.
    pub fn spawn_for<C>(self, consumer: std::sync::Arc<rdkafka::consumer::StreamConsumer<C>>, shutdown: Shutdown)
    where
        C: rdkafka::consumer::ConsumerContext + 'static,
    {
        let topic = self.topic.clone();
        let rejoin = move || {
            consumer.unsubscribe();
            if let Err(error) = consumer.subscribe(&[&topic]) {
                tracing::error!(%error, "rejoining the group failed");
            }
        };
        tokio::spawn(self.run(rejoin, shutdown));
    }

    /// Looks every `interval` until `shutdown`; `rejoin` is called when this member owns no
    /// partition while the group is stalled (it should unsubscribe and subscribe again).
    pub async fn run(self, rejoin: impl Fn() + Send + Sync + 'static, mut shutdown: Shutdown) {
        let mut config = self.kafka.client_config();
        config.set("group.id", &self.group).set("enable.auto.commit", "false");
        let client: BaseConsumer = match config.create() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "group watch: creating its client failed; not watching");
                return;
            }
        };
        let client = std::sync::Arc::new(client);
        let mut last_committed: Option<i64> = None;
        let mut progress_at = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            let owned = self.assignment.owned_count();
            self.metrics.owned_partitions.set(owned as i64);
            let (looking, topic) = (client.clone(), self.topic.clone());
            let observed = tokio::task::spawn_blocking(move || observe(&looking, &topic)).await;
            let observation = match observed {
                Ok(Ok(observation)) => observation,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "group watch: could not read the group's offsets");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "group watch: task failed");
                    continue;
                }
            };
            self.metrics.group_lag.set(observation.lag);
            if last_committed != Some(observation.committed_sum) || observation.lag == 0 {
                progress_at = Instant::now();
            }
            last_committed = Some(observation.committed_sum);
            let stalled_for = progress_at.elapsed();
            if stalled_for < self.stall_after {
                self.readiness.clear("assignment");
                self.readiness.clear("progress");
                continue;
            }
            if owned == 0 {
                let reason = format!(
                    "owns no partition of {} while group {} has {} messages of lag and committed nothing for {} s; rejoining",
                    self.topic,
                    self.group,
                    observation.lag,
                    stalled_for.as_secs()
                );
                tracing::warn!("{reason}");
                self.readiness.block("assignment", reason);
                self.metrics.rejoins.inc();
                rejoin();
                // Give the rebalance a full stall period before judging again.
                progress_at = Instant::now();
            } else {
                self.readiness.block(
                    "progress",
                    format!(
                        "group {} has {} messages of lag on {} and committed nothing for {} s",
                        self.group,
                        observation.lag,
                        self.topic,
                        stalled_for.as_secs()
                    ),
                );
            }
        }
    }
}

/// The group's committed offsets and the topic's high watermarks (blocking requests).
fn observe(client: &BaseConsumer, topic: &str) -> Result<Observation, rdkafka::error::KafkaError> {
    let timeout = Duration::from_secs(10);
    let partitions = topic_partitions(client, topic, timeout)?;
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        list.add_partition(topic, *partition);
    }
    let committed = client.committed_offsets(list, timeout)?;
    let mut observation = Observation { lag: 0, committed_sum: 0 };
    for partition in partitions {
        let (low, high) = client.fetch_watermarks(topic, partition, timeout)?;
        let position = match committed.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            _ => low,
        };
        observation.lag += (high - position).max(0);
        observation.committed_sum += position;
    }
    Ok(observation)
}
