//! Moving the best shots landed before the object store out of the warehouse (ClickHouse migration
//! 0015): each row that still holds its image's bytes (`jpeg` in clear or `sealed`) is stored in the
//! object store under a key named by its event id (the row does not say which of its track's reports
//! carried the image first), and landed again with that key and without the bytes. The later row replaces the earlier one when their parts merge; the partitions the move
//! changed are merged at the end, so the bytes leave the warehouse's disks. Until then a read takes
//! the copy with the key (`best_shot.sql`).
//!
//! Every step is idempotent: a move interrupted anywhere is simply run again (the writer runs it at
//! each start, in the background, and it finds nothing once done). Writers started together each
//! move the same rows, which costs time and changes nothing.

use sightline_common::objects::ObjectStore;
use sightline_common::shutdown::Shutdown;
use sightline_common::warehouse::{ClickHouseSettings, query_error};
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::metrics::WriterMetrics;
use crate::rows::{BestShotRow, ImageObject};
use crate::sink::{SinkError, insert_rows, store_images};

/// Rows read, stored and landed again at a time.
const MOVE_BATCH: u64 = 256;

/// Moves every best shot that still holds its bytes into `objects`; how many it moved. Stops early
/// (returning what it moved) on shutdown.
pub async fn move_out(
    clickhouse: &ClickHouseSettings,
    objects: &ObjectStore,
    metrics: &WriterMetrics,
    shutdown: &Shutdown,
) -> Result<u64, SinkError> {
    let client = &clickhouse.read_client();
    let mut after = Uuid::nil();
    let mut moved = 0u64;
    let mut partitions: BTreeSet<u32> = BTreeSet::new();
    while !shutdown.is_requested() {
        let rows: Vec<BestShotRow> = client
            .query(sightline_schemas::queries::BEST_SHOTS_TO_MOVE)
            .bind(after.to_string())
            .bind(MOVE_BATCH)
            .fetch_all()
            .await
            .map_err(query_error("reading best shots to move to the object store"))?;
        let Some(last) = rows.last() else { break };
        after = last.event_id;
        let mut images = Vec::with_capacity(rows.len());
        let mut moved_rows = Vec::with_capacity(rows.len());
        for row in rows {
            let sealed = !row.sealed.is_empty();
            let bytes = if sealed { row.sealed } else { row.jpeg };
            let capture_ms = i64::from(row.capture_time) * 1000;
            let image = ImageObject::best_shot(row.event_id, capture_ms, &row.stream_id, bytes, sealed);
            partitions.insert(month_of(row.capture_time));
            moved_rows.push(BestShotRow {
                jpeg: Vec::new(),
                sealed: Vec::new(),
                object_key: image.key.clone(),
                object_sealed: u8::from(sealed),
                ..row
            });
            images.push(image);
        }
        store_images(objects, &images).await?;
        insert_rows(client, "best_shot_jpegs", &moved_rows).await?;
        moved += moved_rows.len() as u64;
        metrics.images_moved.inc_by(moved_rows.len() as u64);
    }
    // The moved rows' earlier copies go when their parts merge: now, so the bytes leave the disks.
    for partition in partitions {
        client
            .query(&clickhouse.maintenance(&format!("OPTIMIZE TABLE best_shot_jpegs PARTITION {partition} FINAL"))?)
            .execute()
            .await
            .map_err(query_error(format!("merging partition {partition} of best_shot_jpegs")))?;
    }
    Ok(moved)
}

/// The partition (`toYYYYMM`) of a capture time, seconds since the epoch.
fn month_of(capture_time: u32) -> u32 {
    let date = time::OffsetDateTime::from_unix_timestamp(i64::from(capture_time)).map(|t| t.date());
    date.map_or(197_001, |d| d.year().unsigned_abs() * 100 + u32::from(u8::from(d.month())))
}

/// [`move_out`], logged: what it moved, or why it stopped (the next start tries again).
pub async fn move_out_logged(
    clickhouse: ClickHouseSettings,
    objects: ObjectStore,
    metrics: WriterMetrics,
    shutdown: Shutdown,
) {
    match move_out(&clickhouse, &objects, &metrics, &shutdown).await {
        Ok(0) => {}
        Ok(moved) => tracing::info!(moved, "best shots moved out of the warehouse into the object store"),
        Err(error) => {
            tracing::error!(%error, "moving best shots into the object store failed; the next start tries again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_months() {
        assert_eq!(month_of(0), 197_001);
        assert_eq!(month_of(1_765_065_600), 202_512);
        assert_eq!(month_of(1_767_225_599), 202_512);
        assert_eq!(month_of(1_767_225_600), 202_601);
    }
}
