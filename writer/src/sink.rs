//! The sink: stores a batch's images in the object store, then lands its rows in `best_shot_jpegs`,
//! `matches`, `events` and `tracks`.
//!
//! Every step is idempotent (an image's key is derived from its report, so storing it again replaces
//! it with a copy that opens to the same image; rows go to ReplacingMergeTrees keyed by the event
//! id), so a batch is simply retried, with the shared jittered backoff, until the store and
//! ClickHouse acknowledged all of it.

use clickhouse::{Client, Compression, Row, RowWrite};
use futures::{StreamExt as _, TryStreamExt as _};
use sightline_common::http::Readiness;
use sightline_common::objects::{
    CONCURRENT_REQUESTS, ObjectError, ObjectStore, STORE_CONDITION, best_shot_content_type,
};
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError, query_error};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::metrics::{StreamLabel, WriterMetrics};
use crate::rows::ImageObject;

/// Why a batch did not land (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An image could not be stored.
    #[error("storing images: {0}")]
    Objects(#[from] ObjectError),
    /// The rows could not be inserted.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// Keys this writer stored lately, at most [`RECENT_KEYS`]: a report that repeats its track's best
/// shot names an object already stored, which is not stored again (after a restart it is, once:
/// storing is idempotent).
#[derive(Default)]
struct RecentKeys {
    order: VecDeque<String>,
    held: HashSet<String>,
}

/// How many recently stored keys the writer remembers (about 10 MB).
const RECENT_KEYS: usize = 100_000;

impl RecentKeys {
    fn contains(&self, key: &str) -> bool {
        self.held.contains(key)
    }

    fn insert(&mut self, key: &str) {
        if self.held.insert(key.to_owned()) {
            self.order.push_back(key.to_owned());
            if self.order.len() > RECENT_KEYS
                && let Some(oldest) = self.order.pop_front()
            {
                self.held.remove(&oldest);
            }
        }
    }
}

/// Lands batches: their images in the object store, their rows in the warehouse.
pub struct ClickHouseSink {
    client: Client,
    objects: ObjectStore,
    recent: Mutex<RecentKeys>,
    retry_initial: Duration,
    retry_max: Duration,
    readiness: Readiness,
    metrics: WriterMetrics,
}

impl ClickHouseSink {
    /// A sink for `settings` storing images in `objects`, retrying between the given delays.
    pub fn new(
        settings: &ClickHouseSettings,
        objects: ObjectStore,
        lz4: bool,
        retry_initial: Duration,
        retry_max: Duration,
        readiness: Readiness,
        metrics: WriterMetrics,
    ) -> Self {
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let client = settings.read_client().with_compression(compression);
        Self { client, objects, recent: Mutex::default(), retry_initial, retry_max, readiness, metrics }
    }

    /// Lands the batch once: its images not stored lately ([`store_images`]), then its rows
    /// ([`insert_batch`]).
    pub async fn insert_once(&self, batch: &Batch) -> Result<(), SinkError> {
        let fresh = self.not_stored_lately(batch.images());
        store_images(&self.objects, fresh.iter().copied()).await?;
        self.readiness.clear(STORE_CONDITION);
        self.metrics.images_stored.inc_by(fresh.len() as u64);
        for image in &fresh {
            let stream = StreamLabel { stream: image.stream_id.clone() };
            self.metrics.image_bytes.get_or_create(&stream).inc_by(image.bytes.len() as u64);
        }
        self.remember(&fresh);
        insert_batch(&self.client, batch).await?;
        Ok(())
    }

    /// `images` but those stored lately, each key once.
    fn not_stored_lately<'a>(&self, images: &'a [ImageObject]) -> Vec<&'a ImageObject> {
        let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut keys = HashSet::new();
        images.iter().filter(|image| !recent.contains(&image.key) && keys.insert(image.key.as_str())).collect()
    }

    /// Remembers that `images` are stored.
    fn remember(&self, images: &[&ImageObject]) {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for image in images {
            recent.insert(&image.key);
        }
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
                    match &error {
                        SinkError::Objects(_) => self.readiness.block(STORE_CONDITION, error.to_string()),
                        SinkError::Warehouse(_) => {
                            self.readiness.block("warehouse", format!("clickhouse insert failing: {error}"))
                        }
                    }
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

/// Stores `images`, up to [`CONCURRENT_REQUESTS`] at a time, each retried while the store is
/// unavailable (for the store's `retry_for_secs`).
pub async fn store_images<'a>(
    objects: &ObjectStore,
    images: impl IntoIterator<Item = &'a ImageObject>,
) -> Result<(), ObjectError> {
    // The futures made beforehand: a stream that makes them in a closure is not `Send` for every
    // lifetime (rust-lang/rust#102211).
    let puts: Vec<_> = images
        .into_iter()
        .map(|image| objects.put(&image.key, image.bytes.clone(), best_shot_content_type(image.sealed)))
        .collect();
    futures::stream::iter(puts).buffer_unordered(CONCURRENT_REQUESTS).try_collect().await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keys_forget_the_oldest_beyond_their_bound() {
        let mut recent = RecentKeys::default();
        for i in 0..=RECENT_KEYS {
            recent.insert(&format!("k{i}"));
        }
        recent.insert("k5");
        assert!(!recent.contains("k0"), "the oldest is forgotten");
        assert!(recent.contains("k1") && recent.contains(&format!("k{RECENT_KEYS}")));
        assert_eq!((recent.order.len(), recent.held.len()), (RECENT_KEYS, RECENT_KEYS));
    }
}
