//! The Sightline writer: consumes `sightline.events.v1` in a consumer group and lands every event in
//! ClickHouse exactly once as seen by queries, across crashes, restarts, rebalances and replays.
//!
//! The pipeline has two stages joined by a bounded channel, so consuming the next batch overlaps
//! inserting the previous one while memory stays bounded:
//!
//! 1. the **consumer task** reads messages, turns each into rows ([`rows::event_rows`]) or, when it
//!    cannot, dead-letters it with the reason, and cuts batches by count, bytes, age and idleness;
//! 2. the **sink task** inserts each batch ([`sink::ClickHouseSink`]), retrying with backoff while
//!    ClickHouse is unavailable, and commits the batch's offsets only after ClickHouse acknowledged
//!    it.
//!
//! Why that is exactly-once for readers is explained in `docs/writer.md`: offsets are committed
//! after the data (at-least-once delivery), every row is keyed by the event's deterministic id in a
//! ReplacingMergeTree, and reads use `FINAL` (idempotent landing).

pub mod batch;
pub mod metrics;
pub mod rebuild;
pub mod rows;
pub mod settings;
pub mod sink;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message};
use sightline_common::group::GroupWatch;
use sightline_common::http::Readiness;
use sightline_common::kafka::{Assignment, DeadLetterSink, SourcePosition, dead_letter_until_acknowledged};
use sightline_common::shutdown::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::batch::Batch;
use crate::metrics::{PartitionLabel, ReasonLabel, WriterMetrics};
use crate::settings::WriterSettings;
use crate::sink::ClickHouseSink;

/// Consumer callbacks: tracks the current assignment (commits go only to owned partitions) and
/// publishes consumer lag from librdkafka's statistics.
pub struct WriterContext {
    topic: String,
    assignment: Assignment,
    metrics: WriterMetrics,
}

impl ClientContext for WriterContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    self.metrics.lag.get_or_create(&PartitionLabel { partition: *partition }).set(stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for WriterContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.assignment.apply(&self.topic, rebalance);
    }
}

type WriterConsumer = StreamConsumer<WriterContext>;

/// What a run did, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunSummary {
    /// Messages consumed.
    pub consumed: u64,
    /// Events landed.
    pub inserted: u64,
}

/// Runs the writer until `shutdown`; then flushes what was consumed, commits and returns.
pub async fn run(
    settings: WriterSettings,
    shutdown: Shutdown,
    metrics: WriterMetrics,
    readiness: Readiness,
) -> anyhow::Result<RunSummary> {
    if settings.migrate_on_start {
        sightline_common::warehouse::migrate(&settings.clickhouse)
            .await
            .with_context(|| format!("applying clickhouse migrations at {}", settings.clickhouse.url))?;
    }
    let assignment = Assignment::default();
    let context =
        WriterContext { topic: settings.topic.clone(), assignment: assignment.clone(), metrics: metrics.clone() };
    let mut config = settings.kafka.client_config();
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", settings.session_timeout_ms.to_string())
        .set("max.poll.interval.ms", "600000")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("queued.max.messages.kbytes", settings.prefetch_max_kbytes.to_string())
        .set("statistics.interval.ms", "5000");
    let consumer: Arc<WriterConsumer> =
        Arc::new(config.create_with_context(context).context("creating the kafka consumer")?);
    consumer.subscribe(&[&settings.topic]).with_context(|| format!("subscribing to {}", settings.topic))?;
    let dead_letters = DeadLetterSink::new(
        &settings.kafka,
        settings.dlq_topic.clone(),
        format!("sightline-writer/{}", settings.group_id),
        readiness.clone(),
    )?;
    let sink = ClickHouseSink::new(
        &settings.clickhouse,
        settings.insert_lz4,
        Duration::from_millis(settings.retry_initial_ms),
        Duration::from_millis(settings.retry_max_ms),
        readiness.clone(),
        metrics.clone(),
    );
    let watch = GroupWatch {
        kafka: settings.kafka.clone(),
        topic: settings.topic.clone(),
        group: settings.group_id.clone(),
        assignment: assignment.clone(),
        readiness: readiness.clone(),
        metrics: metrics.group.clone(),
        stall_after: Duration::from_millis(settings.stall_after_ms),
        interval: sightline_common::group::WATCH_INTERVAL,
    };
    watch.spawn_for(consumer.clone(), shutdown.clone());
    readiness.set_ready();
    tracing::info!(topic = %settings.topic, group = %settings.group_id, "writer running");

    let (batches, pending) = mpsc::channel::<Batch>(settings.batches_in_flight.max(1));
    let committer = Committer { consumer: consumer.clone(), topic: settings.topic.clone(), assignment };
    let sink_task = tokio::spawn(sink_loop(
        pending,
        sink,
        committer,
        metrics.clone(),
        shutdown.clone(),
        Duration::from_millis(settings.shutdown_grace_ms),
    ));
    let consumed = consume_loop(&settings, &consumer, &dead_letters, &metrics, shutdown, batches).await;
    let inserted = sink_task.await.context("sink task panicked")?;
    readiness.set_not_ready("stopped");
    consumer.unsubscribe();
    Ok(RunSummary { consumed, inserted })
}

/// Reads messages into batches until shutdown; returns how many messages it consumed.
async fn consume_loop(
    settings: &WriterSettings,
    consumer: &WriterConsumer,
    dead_letters: &DeadLetterSink,
    metrics: &WriterMetrics,
    mut shutdown: Shutdown,
    batches: mpsc::Sender<Batch>,
) -> u64 {
    let mut batch = Batch::default();
    let mut consumed = 0u64;
    let mut last_message = Instant::now();
    let far_future = Duration::from_secs(86_400 * 365);
    loop {
        let deadline = batch
            .started()
            .map_or_else(|| Instant::now() + far_future, |started| settings.batch_deadline(started, last_message));
        let cut = tokio::select! {
            biased;
            _ = shutdown.requested() => break,
            _ = tokio::time::sleep_until(deadline.into()) => true,
            message = consumer.recv() => {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "kafka consumer error");
                        continue;
                    }
                };
                consumed += 1;
                last_message = Instant::now();
                metrics.consumed.inc();
                let (partition, offset) = (message.partition(), message.offset());
                match rows::event_rows(message.payload(), partition, offset, &settings.limits) {
                    Ok(rows) => batch.push(rows, partition, offset, message.payload_len()),
                    Err(rejection) => {
                        let source = SourcePosition { topic: message.topic(), partition, offset };
                        let (key, payload) = (message.key(), message.payload());
                        let (reason, detail) = (rejection.reason, rejection.detail.as_str());
                        if !dead_letter_until_acknowledged(dead_letters, source, key, payload, reason, detail, &shutdown).await {
                            break;
                        }
                        metrics.dead_lettered.get_or_create(&ReasonLabel { reason: rejection.reason.into() }).inc();
                        batch.advance(partition, offset);
                    }
                }
                batch.event_count() >= settings.batch_max_events || batch.payload_bytes() >= settings.batch_max_bytes
            }
        };
        if cut && !batch.is_empty() && batches.send(std::mem::take(&mut batch)).await.is_err() {
            return consumed;
        }
    }
    if !batch.is_empty() {
        let _ = batches.send(batch).await;
    }
    consumed
}

/// Commits landed offsets for the partitions this member still owns.
struct Committer {
    consumer: Arc<WriterConsumer>,
    topic: String,
    assignment: Assignment,
}

impl Committer {
    async fn commit(&self, batch: &Batch) -> anyhow::Result<()> {
        let offsets = self.assignment.owned_offsets(&self.topic, batch.next_offsets().iter().map(|(p, n)| (*p, *n)))?;
        if offsets.count() == 0 {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await??;
        Ok(())
    }
}

/// Lands batches in order and commits each after it landed; returns the events landed.
async fn sink_loop(
    mut pending: mpsc::Receiver<Batch>,
    sink: ClickHouseSink,
    committer: Committer,
    metrics: WriterMetrics,
    shutdown: Shutdown,
    shutdown_grace: Duration,
) -> u64 {
    let mut inserted = 0u64;
    while let Some(batch) = pending.recv().await {
        if batch.event_count() > 0 && !sink.insert_with_retry(&batch, &shutdown, shutdown_grace).await {
            tracing::warn!(events = batch.event_count(), "shutting down before the batch landed; it will be replayed");
            break;
        }
        inserted += batch.event_count() as u64;
        metrics.inserted.inc_by(batch.event_count() as u64);
        if let Err(error) = committer.commit(&batch).await {
            metrics.commit_failures.inc();
            tracing::warn!(%error, "offset commit failed; the landed range will be replayed and deduplicated");
        }
        if let Some(started) = batch.started() {
            metrics.batch_latency.observe(started.elapsed().as_secs_f64());
        }
        tracing::debug!(events = batch.event_count(), offsets = ?batch.next_offsets(), "batch landed and committed");
    }
    inserted
}
