//! The ClickHouse sink: lands a batch's rows in `best_shot_jpegs`, `matches`, `events` and `tracks`.
//!
//! Every insert is idempotent (ReplacingMergeTree keyed by the event id, read with FINAL), so a batch
//! is simply retried, with the shared jittered backoff, until ClickHouse acknowledges all three inserts.

use clickhouse::{Client, Compression, Row, RowWrite};
use sightline_common::http::Readiness;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError, query_error};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::metrics::WriterMetrics;

/// Inserts batches into the warehouse.
pub struct ClickHouseSink {
    client: Client,
    retry_initial: Duration,
    retry_max: Duration,
    readiness: Readiness,
    metrics: WriterMetrics,
}

impl ClickHouseSink {
    /// A sink for `settings`, retrying between the given delays.
    pub fn new(
        settings: &ClickHouseSettings,
        lz4: bool,
        retry_initial: Duration,
        retry_max: Duration,
        readiness: Readiness,
        metrics: WriterMetrics,
    ) -> Self {
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let client = settings.read_client().with_compression(compression);
        Self { client, retry_initial, retry_max, readiness, metrics }
    }

    /// Inserts the batch once ([`insert_batch`]).
    pub async fn insert_once(&self, batch: &Batch) -> Result<(), WarehouseError> {
        insert_batch(&self.client, batch).await
    }

    /// Inserts the batch, retrying until it lands. Returns `false` if it had not landed `grace`
    /// after shutdown was requested (the batch is then left uncommitted, to be replayed).
    pub async fn insert_with_retry(&self, batch: &Batch, shutdown: &Shutdown, grace: Duration) -> bool {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
        let mut deadline: Option<Instant> = None;
        loop {
            let started = Instant::now();
            let delay = match self.insert_once(batch).await {
                Ok(()) => {
                    self.metrics.insert_duration.observe(started.elapsed().as_secs_f64());
                    self.readiness.clear("warehouse");
                    return true;
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    self.metrics.insert_retries.inc();
                    self.readiness.block("warehouse", format!("clickhouse insert failing: {error}"));
                    tracing::warn!(%error, events = batch.event_count(), retry_in_ms = delay.as_millis() as u64, "insert failed; retrying");
                    delay
                }
            };
            if shutdown.is_requested() {
                let give_up_at = *deadline.get_or_insert_with(|| Instant::now() + grace);
                if Instant::now() + delay > give_up_at {
                    return false;
                }
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// Inserts a batch's rows: `best_shot_jpegs`, then `matches`, then `events`, then `tracks`, so an event
/// never points at a missing image and a track never at a missing event. Not retried (see
/// [`ClickHouseSink::insert_with_retry`]).
pub async fn insert_batch(client: &Client, batch: &Batch) -> Result<(), WarehouseError> {
    insert_rows(client, "best_shot_jpegs", batch.best_shots()).await?;
    insert_rows(client, "matches", batch.matches()).await?;
    insert_rows(client, "events", batch.events()).await?;
    insert_rows(client, "tracks", batch.tracks()).await?;
    Ok(())
}

/// One `INSERT` of `rows` into `table` (RowBinary); no request when there are no rows.
pub async fn insert_rows<T>(client: &Client, table: &str, rows: &[T]) -> Result<(), WarehouseError>
where
    T: RowWrite + for<'a> Row<Value<'a> = T>,
{
    if rows.is_empty() {
        return Ok(());
    }
    let action = || format!("inserting {} rows into {table}", rows.len());
    let mut insert = client.insert::<T>(table).await.map_err(query_error(action()))?;
    for row in rows {
        insert.write(row).await.map_err(query_error(action()))?;
    }
    insert.end().await.map_err(query_error(action()))
}
