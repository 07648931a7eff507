//! Tracks per hour of first sighting, site, stream and kind (`hour_counts.sql`), cached per day.
//!
//! The counts come from the hourly track sets of `track_hour_sets` (one partition a day). Merging a
//! month of sets reads every key of the month (about a second at 10M tracks on two cores), yet a
//! day's counts change only when that day's partition does. So each day's counts are kept with the
//! signature of the partition's active parts they were computed from (`hour_set_parts.sql`). A
//! request reads the signatures first (a few ms from `system.parts`); a day whose parts are the same
//! is answered from the cache, the others are computed again. An insert or a merge makes new parts,
//! so a cached day is never stale, only unused. The signature is read before the counts: rows that
//! land in between are counted under the older signature, which no longer matches, so the next
//! request computes the day again.
//!
//! Today's partition changes with every insert of the writer, so today is computed on every request
//! (a thirtieth of the month's keys); the service warms the last [`WARM_DAYS`] days in the
//! background, so the first analyst of the day does not pay for the month.

use clickhouse::Client;
use serde::Deserialize;
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError, query_error};
use sightline_schemas::queries;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Seconds in a day.
const DAY_S: u32 = 86_400;
/// Days kept in the cache; the oldest beyond it are dropped.
const MAX_CACHED_DAYS: usize = 800;
/// Days before today the service keeps computed in the background.
pub const WARM_DAYS: u32 = 31;

/// Tracks first seen in one hour at one stream, of one kind.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct HourCount {
    /// Start of the hour, seconds since the epoch.
    pub hour_s: u32,
    /// Site.
    pub site: String,
    /// Stream.
    pub stream_id: String,
    /// `face` or `body`.
    pub kind: String,
    /// Distinct tracks.
    pub tracks: u64,
    /// Those a watchlist match identified in some report.
    pub matched: u64,
    /// Latest sighting of those tracks, ms since the epoch.
    pub last_seen_ms: i64,
}

/// The active parts of one day's partition (`hour_set_parts.sql`).
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
struct DayParts {
    day: u16,
    parts: String,
}

/// One day's counts and the parts they were computed from.
struct CachedDay {
    parts: String,
    counts: Arc<Vec<HourCount>>,
}

/// The hourly counts of a span of whole hours: the cached days' rows, shared, not copied.
pub struct HoursIn {
    days: Vec<Arc<Vec<HourCount>>>,
    first_s: u32,
    end_s: u32,
}

impl HoursIn {
    /// The counts of the span's hours, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &HourCount> {
        self.days
            .iter()
            .flat_map(|day| day.iter())
            .filter(|count| count.hour_s >= self.first_s && count.hour_s < self.end_s)
    }
}

/// The cache of hourly counts, shared by the clones of a [`crate::store::Warehouse`].
#[derive(Clone, Default)]
pub struct HourCounts {
    days: Arc<Mutex<BTreeMap<u16, CachedDay>>>,
    /// The cluster and database, when the tables are on a cluster: the signatures are then read from
    /// every replica.
    cluster: Option<Arc<(String, String)>>,
}

impl HourCounts {
    /// An empty cache for the warehouse `settings` name.
    pub fn for_warehouse(settings: &ClickHouseSettings) -> Self {
        let cluster =
            settings.cluster_target().map(|target| Arc::new((target.cluster.to_owned(), target.database.to_owned())));
        Self { days: Arc::default(), cluster }
    }

    /// The cluster's name, when the tables are on one.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref().map(|(cluster, _)| cluster.as_str())
    }

    /// Each day's parts of the hourly sets in `[first_day, end_day)`, as one signature string per day.
    async fn signatures(&self, client: &Client, first_day: u16, end_day: u16) -> Result<Vec<DayParts>, WarehouseError> {
        let query = match self.cluster.as_deref() {
            None => client.query(queries::HOUR_SET_PARTS),
            Some((cluster, database)) => {
                let replicas = sightline_common::warehouse::cluster_replicas(client, cluster).await?;
                client.query(queries::HOUR_SET_PARTS_CLUSTER).bind(replicas).bind(database)
            }
        };
        query
            .bind(first_day)
            .bind(end_day)
            .fetch_all::<DayParts>()
            .await
            .map_err(query_error("reading the hourly sets' parts"))
    }

    /// The counts of the hours in `[first_s, end_s)` (whole hours).
    pub async fn between(&self, client: &Client, first_s: u32, end_s: u32) -> Result<HoursIn, WarehouseError> {
        let mut found = Vec::new();
        if first_s >= end_s {
            return Ok(HoursIn { days: found, first_s, end_s });
        }
        let (first_day, end_day) = (day_of(first_s), day_of(end_s - 1) + 1);
        let parts: HashMap<u16, String> =
            self.signatures(client, first_day, end_day).await?.into_iter().map(|row| (row.day, row.parts)).collect();
        let mut missing = Vec::new();
        {
            let days = self.days.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (&day, day_parts) in &parts {
                match days.get(&day) {
                    Some(cached) if cached.parts == *day_parts => found.push(cached.counts.clone()),
                    _ => missing.push(day),
                }
            }
        }
        missing.sort_unstable();
        for run in consecutive_runs(&missing) {
            let (from_s, to_s) = (u32::from(run.0) * DAY_S, u32::from(run.1) * DAY_S);
            let rows: Vec<HourCount> = client
                .query(queries::HOUR_COUNTS)
                .bind(from_s)
                .bind(to_s)
                .fetch_all()
                .await
                .map_err(query_error("counting tracks per hour"))?;
            let mut by_day: BTreeMap<u16, Vec<HourCount>> = (run.0..run.1).map(|day| (day, Vec::new())).collect();
            for row in rows {
                by_day.entry(day_of(row.hour_s)).or_default().push(row);
            }
            let mut days = self.days.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (day, counts) in by_day {
                let counts = Arc::new(counts);
                found.push(counts.clone());
                if let Some(day_parts) = parts.get(&day) {
                    days.insert(day, CachedDay { parts: day_parts.clone(), counts });
                }
            }
            while days.len() > MAX_CACHED_DAYS {
                days.pop_first();
            }
        }
        Ok(HoursIn { days: found, first_s, end_s })
    }
}

/// The day (since 1970-01-01, UTC) of `seconds`.
fn day_of(seconds: u32) -> u16 {
    u16::try_from(seconds / DAY_S).unwrap_or(u16::MAX)
}

/// `days` (sorted) as runs of consecutive days, each `[first, end)`.
fn consecutive_runs(days: &[u16]) -> Vec<(u16, u16)> {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &day in days {
        match runs.last_mut() {
            Some(run) if run.1 == day => run.1 = day + 1,
            _ => runs.push((day, day + 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_are_read_in_runs() {
        assert_eq!(consecutive_runs(&[]), vec![]);
        assert_eq!(consecutive_runs(&[3, 4, 5, 9, 11, 12]), vec![(3, 6), (9, 10), (11, 13)]);
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(86_400), 1);
    }
}
