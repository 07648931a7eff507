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
    /// The broker refused to delete a topic.
    #[error("deleting topic {topic}: {code}")]
    DeleteTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
    /// Deleting a topic was refused before asking the broker (see [`TopicDeletion`]).
    #[error("refusing to delete topic {topic}: {why}")]
    DeletionRefused {
        /// The topic.
        topic: String,
        /// Why.
        why: String,
    },
    /// A skip was refused: the group is not where the operator said.
    #[error("refusing to skip: {0}")]
    SkipRefused(String),
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
    /// The largest message (payload, key and headers) any Sightline producer writes, bytes. It must
    /// stay below what the broker accepts and serves in one fetch (tansu 0.6 accepts more than it
    /// ever serves: 5 MiB) and what every consumer fetches (`message.max.bytes` is set from it).
    /// Producers refuse a larger message locally; dead letters are cut to fit.
    pub max_message_bytes: usize,
}

/// Default of [`KafkaSettings::max_message_bytes`]: 4 MiB, under tansu's 5 MiB fetch cap and Apache
/// Kafka's default 1 MiB + headroom set per topic (`max.message.bytes`, see `infra/deploy`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl KafkaSettings {
    /// A client config with the bootstrap servers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("message.max.bytes", self.max_message_bytes.to_string());
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

/// The cluster id tansu answers unless told otherwise. tansu 0.6.0 as published deletes every topic of
/// the cluster when one topic is deleted (`infra/tansu/README.md`); a broker answering this id is
/// assumed to be that build.
pub const TANSU_DEFAULT_CLUSTER_ID: &str = "tansu_cluster";

/// Whether topics may be deleted on the configured broker.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TopicDeletion {
    /// Refused on a broker that answers tansu's default cluster id ([`TANSU_DEFAULT_CLUSTER_ID`]),
    /// whose published build wipes every topic; allowed elsewhere (Apache Kafka, Redpanda).
    #[default]
    Auto,
    /// Allowed: the broker is known to delete only the named topic (the local stack's patched tansu).
    Allow,
    /// Always refused.
    Refuse,
}

/// Deletes one topic with its records, if `policy` allows it on this broker.
pub async fn delete_topic(settings: &KafkaSettings, topic: &str, policy: TopicDeletion) -> Result<(), KafkaError> {
    let admin: std::sync::Arc<AdminClient<DefaultClientContext>> =
        std::sync::Arc::new(settings.client_config().create().map_err(client_error("creating admin client"))?);
    let refused = |why: String| KafkaError::DeletionRefused { topic: topic.to_owned(), why };
    match policy {
        TopicDeletion::Allow => {}
        TopicDeletion::Refuse => return Err(refused("topic_deletion is \"refuse\"".into())),
        TopicDeletion::Auto => {
            let asking = admin.clone();
            let cluster_id =
                tokio::task::spawn_blocking(move || asking.inner().fetch_cluster_id(Duration::from_secs(10)))
                    .await
                    .ok()
                    .flatten();
            match cluster_id.as_deref() {
                None => return Err(refused("the broker did not tell its cluster id".into())),
                Some(TANSU_DEFAULT_CLUSTER_ID) => {
                    return Err(refused(format!(
                        "the broker answers tansu's default cluster id {TANSU_DEFAULT_CLUSTER_ID:?}; tansu 0.6.0 as \
                         published deletes every topic when one is deleted (set topic_deletion = \"allow\" only for \
                         a broker built with the fix in infra/tansu)"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.delete_topics(&[topic], &options).await.map_err(client_error("deleting topics"))?;
    for result in results {
        if let Err((topic, code)) = result {
            return Err(KafkaError::DeleteTopic { topic, code });
        }
    }
    tracing::info!(topic, "topic deleted");
    Ok(())
}

/// The partitions of `topic` as the broker's metadata lists them (a blocking request).
pub fn topic_partitions<C: rdkafka::consumer::ConsumerContext>(
    client: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, rdkafka::error::KafkaError> {
    use rdkafka::consumer::Consumer as _;
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
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

/// Header on a dead letter whose payload was cut to fit [`KafkaSettings::max_message_bytes`]: the
/// original payload's length in bytes (the original stays on its source topic, at the source position).
pub const DLQ_TRUNCATED_HEADER: &str = "dlq.truncated.original_bytes";

/// Room kept for the record's key, headers and framing when a dead letter's payload is cut to fit.
const DLQ_ENVELOPE_BYTES: usize = 16 * 1024;

/// Longest `dlq.detail` header, bytes (details quote untrusted input).
const DLQ_DETAIL_MAX_BYTES: usize = 2048;

/// Sends messages a consumer cannot process to the dead-letter topic with headers naming the reason
/// and the source position (see [`sightline_schemas::dlq_headers`]). The payload goes unchanged when
/// it fits in `max_message_bytes`; otherwise it is cut to fit and [`DLQ_TRUNCATED_HEADER`] says how
/// long it was, so one message can never be impossible to dead-letter.
#[derive(Clone)]
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
    consumer_name: String,
    max_message_bytes: usize,
    readiness: crate::http::Readiness,
}

/// Whether a produce error means the message is too large for the producer or the broker: retrying
/// the same message can never succeed.
pub fn is_too_large(error: &rdkafka::error::KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge)
    )
}

impl DeadLetterSink {
    /// A sink with its own idempotent producer on `settings`, producing to `topic`, naming
    /// `consumer_name` (service and group) in every letter. While dead letters cannot be delivered,
    /// `readiness` is blocked (condition `dead_letters`): the consumer is stuck on that message.
    pub fn new(
        settings: &KafkaSettings,
        topic: impl Into<String>,
        consumer_name: impl Into<String>,
        readiness: crate::http::Readiness,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: settings.idempotent_producer()?,
            topic: topic.into(),
            consumer_name: consumer_name.into(),
            max_message_bytes: settings.max_message_bytes,
            readiness,
        })
    }

    /// Sends one dead letter and waits until the broker acknowledged it. A payload too large for the
    /// producer or the broker is cut (to the room left, then by halves) until it is accepted.
    pub async fn send(
        &self,
        source: SourcePosition<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        reason: &str,
        detail: &str,
    ) -> Result<(), KafkaError> {
        let key = key.map(|k| &k[..k.len().min(1024)]);
        let room = self.max_message_bytes.saturating_sub(DLQ_ENVELOPE_BYTES);
        let mut keep = payload.map_or(0, |p| p.len().min(room));
        loop {
            let cut = payload.map(|p| &p[..keep.min(p.len())]);
            match self.send_once(&source, key, cut, payload.map_or(0, <[u8]>::len), reason, detail).await {
                Err(KafkaError::Client { source, .. }) if is_too_large(&source) && keep > 0 => {
                    tracing::warn!(keep, "dead letter too large for the broker; cutting its payload further");
                    keep /= 2;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        source: &SourcePosition<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        original_len: usize,
        reason: &str,
        detail: &str,
    ) -> Result<(), KafkaError> {
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let detail = &detail[..detail.floor_char_boundary(DLQ_DETAIL_MAX_BYTES)];
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: dlq_headers::REASON, value: Some(reason) })
            .insert(Header { key: dlq_headers::DETAIL, value: Some(detail) })
            .insert(Header { key: dlq_headers::SOURCE_TOPIC, value: Some(source.topic) })
            .insert(Header { key: dlq_headers::SOURCE_PARTITION, value: Some(partition.as_str()) })
            .insert(Header { key: dlq_headers::SOURCE_OFFSET, value: Some(offset.as_str()) })
            .insert(Header { key: dlq_headers::CONSUMER, value: Some(self.consumer_name.as_str()) });
        let original = original_len.to_string();
        if payload.map_or(0, <[u8]>::len) < original_len {
            headers = headers.insert(Header { key: DLQ_TRUNCATED_HEADER, value: Some(original.as_str()) });
        }
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

/// The `dlq.reason` of the letter that records a record skipped by an operator.
pub const SKIPPED_REASON: &str = "skipped";

/// Moves consumer group `group` past the one record at `source` (a record the broker accepts but
/// cannot serve stops its partition for good), after recording the skip as a dead letter on
/// `dlq_topic` (reason [`SKIPPED_REASON`], the operator's `why` and `by` in its detail; the record's
/// bytes stay on the source topic). Refused unless the group's committed offset on that partition is
/// exactly `source.offset`, so a skip never jumps over records the group has not read. Members of
/// the group keep their own position until they are assigned the partition again: stop them first.
pub async fn skip_record(
    settings: &KafkaSettings,
    group: &str,
    source: SourcePosition<'_>,
    dlq_topic: &str,
    why: &str,
    by: &str,
) -> Result<(), KafkaError> {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let mut config = settings.client_config();
    config.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().map_err(client_error("creating the group's client"))?;
    let timeout = Duration::from_secs(30);
    let mut list = TopicPartitionList::new();
    list.add_partition(source.topic, source.partition);
    let committed_now = |list: TopicPartitionList| -> Result<Option<i64>, KafkaError> {
        let committed =
            consumer.committed_offsets(list, timeout).map_err(client_error("reading the committed offset"))?;
        Ok(match committed.find_partition(source.topic, source.partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => Some(offset),
            _ => None,
        })
    };
    let at = committed_now(list.clone())?;
    if at != Some(source.offset) {
        return Err(KafkaError::SkipRefused(format!(
            "group {group} is at {} on {}[{}], not at {}",
            at.map_or("no committed offset".to_owned(), |o| o.to_string()),
            source.topic,
            source.partition,
            source.offset
        )));
    }
    let sink = DeadLetterSink::new(
        settings,
        dlq_topic,
        format!("sightline-admin/{group}"),
        crate::http::Readiness::new("skip"),
    )?;
    let detail = format!("skipped by {by}: {why}");
    sink.send(source.clone(), None, None, SKIPPED_REASON, &detail).await?;
    let mut next = TopicPartitionList::new();
    next.add_partition_offset(source.topic, source.partition, Offset::Offset(source.offset + 1))
        .map_err(client_error("naming the next offset"))?;
    consumer.commit(&next, CommitMode::Sync).map_err(client_error("committing the next offset"))?;
    let after = committed_now(list)?;
    if after != Some(source.offset + 1) {
        return Err(KafkaError::SkipRefused(format!(
            "the broker kept group {group} at {after:?} on {}[{}] (are its members still running?)",
            source.topic, source.partition
        )));
    }
    tracing::warn!(
        group,
        topic = source.topic,
        partition = source.partition,
        offset = source.offset,
        by,
        why,
        "record skipped"
    );
    Ok(())
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

    /// The partitions this member owns now.
    pub fn owned(&self) -> std::collections::BTreeSet<i32> {
        self.partitions.lock().map(|p| p.clone()).unwrap_or_default()
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
    let mut backoff = crate::retry::Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut shutdown = shutdown.clone();
    loop {
        match sink.send(source.clone(), key, payload, reason, detail).await {
            Ok(()) => {
                sink.readiness.clear("dead_letters");
                return true;
            }
            Err(error) => {
                tracing::error!(%error, "dead-lettering failed; retrying");
                sink.readiness.block(
                    "dead_letters",
                    format!(
                        "cannot dead-letter {}[{}]@{} to {}: {error}",
                        source.topic, source.partition, source.offset, sink.topic
                    ),
                );
            }
        }
        if !backoff.pause(&mut shutdown).await {
            return false;
        }
    }
}

/// First delay after a failed produce; doubles (with jitter) up to [`RETRY_MAX`].
const RETRY_INITIAL: Duration = Duration::from_millis(200);
/// Longest delay between produce attempts.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// A record to produce.
#[derive(Debug, Clone)]
pub struct OutRecord {
    /// Key (the partitioner's input), if any.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A record that can never be produced.
#[derive(Debug)]
pub struct Unproducible {
    /// Its place in the records given.
    pub index: usize,
    /// Why (too large for the producer or the broker).
    pub error: rdkafka::error::KafkaError,
}

/// Produces every record to `topic` and waits for the broker's acknowledgements, retrying failed ones
/// with the shared backoff until they are acknowledged. A record too large for the producer or the
/// broker is not retried but returned, for the caller to dead-letter its input. `None` if shutdown
/// came before every record was acknowledged (the caller then commits nothing).
pub async fn produce_until_acknowledged(
    producer: &FutureProducer,
    topic: &str,
    records: &[OutRecord],
    shutdown: &crate::shutdown::Shutdown,
) -> Option<Vec<Unproducible>> {
    let mut pending: Vec<usize> = (0..records.len()).collect();
    let mut unproducible = Vec::new();
    let mut backoff = crate::retry::Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut shutdown = shutdown.clone();
    while !pending.is_empty() {
        let sends = pending.iter().map(|&index| {
            let record = &records[index];
            let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(&record.payload);
            if let Some(key) = &record.key {
                out = out.key(key);
            }
            producer.send(out, Duration::from_secs(60))
        });
        let results = futures::future::join_all(sends).await;
        let mut failed = Vec::new();
        for (index, result) in pending.into_iter().zip(results) {
            match result {
                Ok(_) => {}
                Err((error, _)) if is_too_large(&error) => unproducible.push(Unproducible { index, error }),
                Err((error, _)) => {
                    tracing::warn!(%error, topic, "producing failed; retrying");
                    failed.push(index);
                }
            }
        }
        pending = failed;
        if !pending.is_empty() && !backoff.pause(&mut shutdown).await {
            return None;
        }
    }
    Some(unproducible)
}
