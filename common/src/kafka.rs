//! Kafka clients (through `rdkafka`, so the same code runs on Apache Kafka, Redpanda or tansu), topic
//! creation from configuration, and the dead-letter sink.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use sightline_schemas::dlq_headers;

/// Errors talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A client could not be created or a request failed.
    #[error("kafka {action}: {source}")]
    Client {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker refused to create a topic.
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
}

fn client_error(action: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
    let action = action.into();
    move |source| KafkaError::Client { action, source }
}

/// Connection settings shared by every Kafka client of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Extra librdkafka properties applied to every client (e.g. security settings in production).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self { brokers: "127.0.0.1:9092".into(), properties: BTreeMap::new() }
    }
}

impl KafkaSettings {
    /// A client config with the bootstrap servers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// Settings of an idempotent producer (`acks=all`): retries never duplicate or reorder within a
    /// partition.
    pub fn idempotent_producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000");
        config
    }

    /// An idempotent async producer (see [`Self::idempotent_producer_config`]).
    pub fn idempotent_producer(&self) -> Result<FutureProducer, KafkaError> {
        self.idempotent_producer_config().create().map_err(client_error("creating producer"))
    }
}

/// A topic to create: its name, partition count and retention.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Number of partitions (the unit of consumer parallelism).
    pub partitions: i32,
    /// Replication factor (1 on a single broker; 3 in production).
    #[serde(default = "default_replication")]
    pub replication: i32,
    /// `retention.ms`; -1 keeps everything (the event log is the source of truth).
    #[serde(default = "default_retention")]
    pub retention_ms: i64,
}

fn default_replication() -> i32 {
    1
}

fn default_retention() -> i64 {
    -1
}

/// Creates the topics that do not exist yet; existing ones are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[TopicSpec]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        settings.client_config().create().map_err(client_error("creating admin client"))?;
    let retention: Vec<String> = topics.iter().map(|t| t.retention_ms.to_string()).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&retention)
        .map(|(t, retention)| {
            NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(t.replication)).set("retention.ms", retention)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new_topics, &options).await.map_err(client_error("creating topics"))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(%topic, "topic created"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::debug!(%topic, "topic exists"),
            Err((topic, code)) => return Err(KafkaError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

/// Where a message came from, for dead-letter headers.
#[derive(Debug, Clone)]
pub struct SourcePosition<'a> {
    /// Topic it was read from.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// Sends messages a consumer cannot process to the dead-letter topic, unchanged, with headers naming
/// the reason and the source position (see [`sightline_schemas::dlq_headers`]).
#[derive(Clone)]
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
    consumer_name: String,
}

impl DeadLetterSink {
    /// A sink producing to `topic`, naming `consumer_name` (service and group) in every letter.
    pub fn new(producer: FutureProducer, topic: impl Into<String>, consumer_name: impl Into<String>) -> Self {
        Self { producer, topic: topic.into(), consumer_name: consumer_name.into() }
    }

    /// Sends one dead letter and waits until the broker acknowledged it.
    pub async fn send(
        &self,
        source: SourcePosition<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        reason: &str,
        detail: &str,
    ) -> Result<(), KafkaError> {
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: dlq_headers::REASON, value: Some(reason) })
            .insert(Header { key: dlq_headers::DETAIL, value: Some(detail) })
            .insert(Header { key: dlq_headers::SOURCE_TOPIC, value: Some(source.topic) })
            .insert(Header { key: dlq_headers::SOURCE_PARTITION, value: Some(partition.as_str()) })
            .insert(Header { key: dlq_headers::SOURCE_OFFSET, value: Some(offset.as_str()) })
            .insert(Header { key: dlq_headers::CONSUMER, value: Some(self.consumer_name.as_str()) });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Duration::from_secs(60))
            .await
            .map(|_| ())
            .map_err(|(source, _)| KafkaError::Client { action: format!("dead-lettering to {}", self.topic), source })
    }
}

/// The partitions of one topic that this consumer-group member owns now, kept up to date by the
/// consumer context's rebalance callback ([`Assignment::apply`]). Offsets are committed only for
/// owned partitions: after a rebalance, another member may already be processing the others.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    partitions: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<i32>>>,
}

impl Assignment {
    /// Follows a rebalance of `topic`.
    pub fn apply(&self, topic: &str, rebalance: &rdkafka::consumer::Rebalance<'_>) {
        use rdkafka::consumer::Rebalance;
        let Ok(mut owned) = self.partitions.lock() else { return };
        match rebalance {
            Rebalance::Assign(partitions) => {
                owned.clear();
                owned.extend(partitions.elements_for_topic(topic).iter().map(|e| e.partition()));
                tracing::info!(partitions = ?*owned, "partitions assigned");
            }
            Rebalance::Revoke(partitions) => {
                for element in partitions.elements_for_topic(topic) {
                    owned.remove(&element.partition());
                }
                tracing::info!(remaining = ?*owned, "partitions revoked");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    /// The commit list for `next_offsets` ((partition, next offset to read) pairs) restricted to the
    /// partitions owned now.
    pub fn owned_offsets(
        &self,
        topic: &str,
        next_offsets: impl IntoIterator<Item = (i32, i64)>,
    ) -> Result<rdkafka::TopicPartitionList, KafkaError> {
        let owned = self.partitions.lock().map(|p| p.clone()).unwrap_or_default();
        let mut list = rdkafka::TopicPartitionList::new();
        for (partition, next) in next_offsets {
            if owned.contains(&partition) {
                list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(next))
                    .map_err(client_error("building the offsets to commit"))?;
            }
        }
        Ok(list)
    }
}

/// Dead-letters one message, retrying with backoff until the broker acknowledges it; `false` if
/// shutdown came first (the message then stays uncommitted and is read again).
pub async fn dead_letter_until_acknowledged(
    sink: &DeadLetterSink,
    source: SourcePosition<'_>,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    reason: &str,
    detail: &str,
    shutdown: &crate::shutdown::Shutdown,
) -> bool {
    tracing::warn!(reason, detail, partition = source.partition, offset = source.offset, "dead-lettering message");
    let mut delay = Duration::from_millis(200);
    loop {
        match sink.send(source.clone(), key, payload, reason, detail).await {
            Ok(()) => return true,
            Err(error) => tracing::error!(%error, "dead-lettering failed; retrying"),
        }
        if shutdown.is_requested() {
            return false;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
