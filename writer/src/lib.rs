//! The Sightline writer: consumes `sightline.events.v1` in a consumer group and lands every event in
//! ClickHouse exactly once as seen by queries, across crashes, restarts, rebalances and replays.
//!
//! The pipeline has two stages joined by a bounded channel, so consuming the next batch overlaps
//! inserting the previous one while memory stays bounded:
//!
//! 1. the **consumer task** reads messages, turns each into rows ([`rows::event_rows`]) or, when it
//!    cannot, dead-letters it with the reason, and cuts batches by count, bytes, age and idleness;
//! 2. the **sink task** stores each batch's best shots in the object store, then inserts its rows
//!    ([`sink::ClickHouseSink`]), retrying with backoff while either is unavailable, and commits the
//!    batch's offsets only after both acknowledged it.
//!
//! Why that is exactly-once for readers is explained in `docs/writer.md`: offsets are committed
//! after the data (at-least-once delivery), every row is keyed by the event's deterministic id in a
//! ReplacingMergeTree, and reads use `FINAL` (idempotent landing).

pub mod batch;
pub mod images;
pub mod metrics;
pub mod rebuild;
pub mod rows;
pub mod settings;
pub mod sink;

use anyhow::Context;
use rdkafka::Message;
use sightline_common::consumer::{ConsumerSpec, GroupConsumer};
use sightline_common::http::Readiness;
use sightline_common::keys::KeyRing;
use sightline_common::objects::{ObjectStore, StoreNeed};
use sightline_common::sealing;
use sightline_common::shutdown::Shutdown;
use sightline_schemas::v1::EnrichedEvent;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::batch::Batch;
use crate::metrics::WriterMetrics;
use crate::rows::Rejection;
use crate::settings::WriterSettings;
use crate::sink::ClickHouseSink;

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
    keys: KeyRing,
    shutdown: Shutdown,
    metrics: WriterMetrics,
    readiness: Readiness,
) -> anyhow::Result<RunSummary> {
    if settings.migrate_on_start {
        sightline_common::warehouse::migrate(&settings.clickhouse)
            .await
            .with_context(|| format!("applying clickhouse migrations at {}", settings.clickhouse.url))?;
    }
    let spec = ConsumerSpec {
        kafka: settings.kafka.clone(),
        topic: settings.topic.clone(),
        group_id: settings.group_id.clone(),
        dlq_topic: settings.dlq_topic.clone(),
        service: "sightline-writer".into(),
        session_timeout_ms: settings.session_timeout_ms,
        stall_after: Duration::from_millis(settings.stall_after_ms),
        fetch_wait_max_ms: settings.fetch_wait_max_ms,
        prefetch_max_kbytes: Some(settings.prefetch_max_kbytes),
    };
    let objects =
        ObjectStore::watched(&settings.objects, settings.deployment, StoreNeed::Blocking, &readiness, &shutdown)
            .context("the object store")?;
    if settings.move_images_on_start {
        let clickhouse = settings.clickhouse.clone();
        tokio::spawn(images::move_out_logged(clickhouse, objects.clone(), metrics.clone(), shutdown.clone()));
    }
    let consumer = Arc::new(GroupConsumer::start(&spec, readiness.clone(), metrics.consumer.clone(), &shutdown)?);
    let sink = ClickHouseSink::new(
        &settings.clickhouse,
        objects,
        settings.insert_lz4,
        Duration::from_millis(settings.retry_initial_ms),
        Duration::from_millis(settings.retry_max_ms),
        readiness.clone(),
        metrics.clone(),
    );
    readiness.set_ready();
    tracing::info!(topic = %settings.topic, group = %settings.group_id, "writer running");

    let (batches, pending) = mpsc::channel::<Batch>(settings.batches_in_flight.max(1));
    let sink_task = tokio::spawn(sink_loop(
        pending,
        sink,
        consumer.clone(),
        metrics.clone(),
        shutdown.clone(),
        Duration::from_millis(settings.shutdown_grace_ms),
    ));
    let opener = Opener { ring: keys, metrics: metrics.clone(), readiness: readiness.clone() };
    let consumed = consume_loop(&settings, &opener, &consumer, shutdown, batches).await;
    let inserted = sink_task.await.context("sink task panicked")?;
    readiness.set_not_ready("stopped");
    consumer.stop();
    Ok(RunSummary { consumed, inserted })
}

/// Reads messages into batches until shutdown; returns how many messages it consumed.
async fn consume_loop(
    settings: &WriterSettings,
    opener: &Opener,
    consumer: &GroupConsumer,
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
                // With what the consumer holds already (at most READ_AHEAD): their keys are read in
                // one query. Drained here, outside the select, so no message is dropped half-read.
                let mut messages = vec![message];
                while messages.len() < READ_AHEAD {
                    match tokio::time::timeout(Duration::ZERO, consumer.recv()).await {
                        Ok(message) => messages.push(message),
                        Err(_) => break,
                    }
                }
                consumed += messages.len() as u64;
                last_message = Instant::now();
                let decoded: Vec<_> = messages.iter().map(|m| rows::decode_event(m.payload())).collect();
                let Some(opened) = opener.open_all(decoded, &shutdown).await else { break };
                let mut stopped = false;
                for (message, opened) in messages.iter().zip(opened) {
                    let (partition, offset) = (message.partition(), message.offset());
                    match opened.and_then(|event| rows::rows_of(event, partition, offset, &settings.limits)) {
                        Ok(rows) => batch.push(rows, partition, offset, message.payload_len()),
                        Err(rejection) => {
                            if !consumer.dead_letter(message, rejection.reason, &rejection.detail, &shutdown).await {
                                stopped = true;
                                break;
                            }
                            batch.advance(partition, offset);
                        }
                    }
                }
                if stopped {
                    break;
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

/// Messages the consumer already holds that are read together (their keys in one query).
const READ_AHEAD: usize = 512;

/// Opens the sealed fields of events with their tracks' keys, but for best shots: those land
/// sealed (the query service opens one per read) once their key is known to be held.
struct Opener {
    ring: KeyRing,
    metrics: WriterMetrics,
    readiness: Readiness,
}

impl Opener {
    /// `events` with their sealed fields in clear (best shots still sealed), or absent where their
    /// key is destroyed (erased or expired: counted, the rest of the event lands); a rejection for
    /// those that do not open. The
    /// keys of all of them are read in one query, retried while they cannot be read
    /// ([`KeyRing::load_until_done`]); `None` on shutdown.
    async fn open_all(
        &self,
        events: Vec<Result<EnrichedEvent, Rejection>>,
        shutdown: &Shutdown,
    ) -> Option<Vec<Result<EnrichedEvent, Rejection>>> {
        let parts = events.iter().flatten().flat_map(sealing::sealed_parts);
        if !self.ring.load_until_done(parts, shutdown, &self.readiness, &self.metrics.key_errors).await {
            return None;
        }
        Some(events.into_iter().map(|event| event.and_then(|event| self.open(event))).collect())
    }

    /// `event` opened with loaded keys ([`sealing::open_enriched_keeping_images`]).
    fn open(&self, mut event: EnrichedEvent) -> Result<EnrichedEvent, Rejection> {
        let opening = sealing::open_enriched_keeping_images(&mut event, &self.ring)?;
        self.metrics.erased_fields.inc_by(u64::from(opening.erased));
        Ok(event)
    }
}

/// Lands batches in order and commits each after it landed; returns the events landed.
async fn sink_loop(
    mut pending: mpsc::Receiver<Batch>,
    sink: ClickHouseSink,
    consumer: Arc<GroupConsumer>,
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
        consumer.commit(batch.next_offsets().iter().map(|(p, n)| (*p, *n))).await;
        if let Some(started) = batch.started() {
            metrics.batch_latency.observe(started.elapsed().as_secs_f64());
        }
        tracing::debug!(events = batch.event_count(), offsets = ?batch.next_offsets(), "batch landed and committed");
    }
    inserted
}
