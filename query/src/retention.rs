//! Retention (docs/privacy.md, section 2): each class of data disappears when its period ends, by
//! the same path as an erasure. One run at a time across instances (a PostgreSQL advisory lock),
//! hourly and when an admin asks:
//!
//! 1. **keys**: the track keys past their class's period are destroyed (`image` keys by the face
//!    images' periods, `template` keys by the descriptors' and identities', matched tracks by the
//!    matched periods), so every copy on the Kafka topics becomes unreadable for good; day partitions
//!    of `track_keys` past the longest period are dropped;
//! 2. **copies**: the best shots, descriptors and matches of the tracks whose keys just expired are
//!    deleted ([`Eraser::mutate`], the erasure's deletions); whole partitions past a table's period
//!    are dropped (reports and tracks by the track metadata's period, matches and identifications by
//!    the identities', images and descriptors by their longest, hourly counts by the aggregates'),
//!    and so are the object store's days of best shots past the images' longest period;
//! 3. **PostgreSQL**: alerts (deliveries, desk log, scenes with them) past the alerts' period, and the
//!    audit log (face searches included) past the audit period;
//! 4. the run is recorded (`retention_runs`, and `privacy.retention` in the audit log).
//!
//! Every instance reads how retention fares from the recorded runs, each minute and after a run of
//! its own, and says so ([`RetentionHealth`]): `/readyz` names a failed last run or runs overdue
//! (as a limitation: analysts' queries still work, so the service stays ready), and the metrics
//! `sightline_query_retention_*` give the last success, whether it is failing, the runs and what
//! they expired.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sightline_common::audit::{self, Entry};
use sightline_common::auth::Principal;
use sightline_common::clock::now_ms;
use sightline_common::http::Readiness;
use sightline_common::keys::{key_day, partition_name};
use sightline_common::objects::MediaKind;
use sightline_common::privacy::RetentionSettings;
use sightline_common::shutdown::Shutdown;
use sightline_schemas::queries;
use std::collections::BTreeSet;
use std::time::Duration;
use time::{Date, Month};

use crate::erasure::{Eraser, ErasureError};

/// The advisory lock one retention run holds.
const RETENTION_LOCK: i64 = 0x5e11_7e7e;

/// What one run expired.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RetentionCounts {
    /// Track keys destroyed.
    pub keys: u64,
    /// Tracks whose warehouse copies were deleted (their first key expired).
    pub tracks: u64,
    /// Warehouse partitions dropped, as `table partition`.
    pub partitions: Vec<String>,
    /// Objects deleted with their day (best shots past the longest image period).
    pub objects: u64,
    /// Day partitions of `track_keys` dropped.
    pub key_partitions: u64,
    /// Alerts deleted.
    pub alerts: u64,
    /// Audit records deleted (the log's own retention; face searches among them).
    pub audit_records: u64,
}

/// One run as `GET /v1/privacy/retention-runs` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetentionRun {
    /// Its id.
    pub id: i64,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
    /// When it finished, ms since the epoch (none while running).
    pub finished_ms: Option<i64>,
    /// `schedule`, or the admin who asked for it.
    pub trigger: String,
    /// `running`, `done` or `failed`.
    pub outcome: String,
    /// What it expired ([`RetentionCounts`]).
    #[schema(value_type = Object)]
    pub counts: serde_json::Value,
    /// Why it failed.
    pub error: Option<String>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for RetentionRun {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            started_ms: row.try_get("started_ms")?,
            finished_ms: row.try_get("finished_ms")?,
            trigger: row.try_get("trigger")?,
            outcome: row.try_get("outcome")?,
            counts: row.try_get("counts")?,
            error: row.try_get("error")?,
        })
    }
}

/// The feature `/readyz` names while retention fails.
pub const RETENTION: &str = "retention";

/// Runs without a success, in scheduled periods, after which retention is overdue.
const OVERDUE_PERIODS: u32 = 3;

/// A label of the retention metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetentionLabel {
    /// A run's outcome (`done`, `failed`), or what was expired (`keys`, `tracks`, ...).
    pub kind: String,
}

/// Retention's metrics (prefix `sightline_query_retention`).
#[derive(Clone, Debug, Default)]
pub struct RetentionMetrics {
    /// This instance's runs, by outcome.
    pub runs: Family<RetentionLabel, Counter>,
    /// What this instance's runs expired, by kind.
    pub expired: Family<RetentionLabel, Counter>,
    /// When a run (of any instance) last succeeded, seconds since the epoch; 0: never.
    pub last_success: Gauge,
    /// 1 while the last run failed or runs are overdue.
    pub failing: Gauge,
}

impl RetentionMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("retention");
        registry.register("runs", "Retention runs of this instance, by outcome", metrics.runs.clone());
        registry.register("expired", "What this instance's retention runs expired, by kind", metrics.expired.clone());
        registry.register(
            "last_success_timestamp_seconds",
            "When a retention run last succeeded (any instance), seconds since the epoch; 0: never",
            metrics.last_success.clone(),
        );
        registry.register(
            "failing",
            "1 while the last retention run failed or runs are overdue (see /readyz for why)",
            metrics.failing.clone(),
        );
        metrics
    }

    /// Counts a run of this instance.
    fn count(&self, outcome: &str, counts: Option<&RetentionCounts>) {
        let label = |kind: &str| RetentionLabel { kind: kind.to_owned() };
        self.runs.get_or_create(&label(outcome)).inc();
        if let Some(c) = counts {
            for (kind, n) in [
                ("keys", c.keys),
                ("tracks", c.tracks),
                ("partitions", c.partitions.len() as u64),
                ("key_partitions", c.key_partitions),
                ("alerts", c.alerts),
                ("audit_records", c.audit_records),
            ] {
                self.expired.get_or_create(&label(kind)).inc_by(n);
            }
        }
    }
}

/// Where retention's health is told: `/readyz` and the metrics.
#[derive(Clone, Debug)]
pub struct RetentionHealth {
    /// The service's readiness.
    pub readiness: Readiness,
    /// The metrics.
    pub metrics: RetentionMetrics,
}

/// How retention fares, as the recorded runs say.
#[derive(Debug)]
struct Fare {
    /// The latest finished run: its id, outcome and error.
    latest_id: Option<i64>,
    latest_outcome: Option<String>,
    latest_error: Option<String>,
    /// The last success, seconds since the epoch and in words.
    last_done_s: Option<i64>,
    last_done: Option<String>,
    /// No success (or none since the first run) for [`OVERDUE_PERIODS`] periods.
    overdue: Option<bool>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Fare {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            latest_id: row.try_get("latest_id")?,
            latest_outcome: row.try_get("latest_outcome")?,
            latest_error: row.try_get("latest_error")?,
            last_done_s: row.try_get("last_done_s")?,
            last_done: row.try_get("last_done")?,
            overdue: row.try_get("overdue")?,
        })
    }
}

impl Fare {
    /// Why retention is failing, in words; `None` while it is not.
    fn failing(&self, every: Duration) -> Option<String> {
        let since = match &self.last_done {
            Some(at) => format!("last success {at}"),
            None => "no run has succeeded yet".to_owned(),
        };
        if self.latest_outcome.as_deref() == Some("failed") {
            let error = self.latest_error.as_deref().unwrap_or("no reason recorded");
            let id = self.latest_id.unwrap_or_default();
            return Some(format!(
                "run {id} failed: {error}; data past its period stays until a run succeeds ({since})"
            ));
        }
        if self.overdue == Some(true) {
            let hours = (every * OVERDUE_PERIODS).as_secs_f64() / 3_600.0;
            return Some(format!("no run has succeeded for over {hours:.1} h ({since}); data past its period stays"));
        }
        None
    }
}

/// Runs retention.
#[derive(Clone)]
pub struct Retention {
    /// The eraser (its pool and warehouse client with the right to delete).
    pub eraser: Eraser,
    /// The periods.
    pub settings: RetentionSettings,
    /// How often the scheduled run comes.
    pub every: Duration,
    /// How long after the service starts the schedule first looks.
    pub start_delay: Duration,
    /// Where its health is told.
    pub health: RetentionHealth,
}

/// The principal the scheduled runs are recorded under.
fn scheduler() -> Principal {
    Principal::service("retention")
}

/// The last day a partition of `table` holds, from its partition value (`'2026-12-06'` or `202612`).
fn partition_end(partition: &str) -> Option<Date> {
    let value = partition.trim_matches('\'');
    if let [year, month, day] = value.split('-').collect::<Vec<_>>()[..] {
        let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
        return Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok();
    }
    if value.len() == 6 {
        let (year, month) = (value[..4].parse::<i32>().ok()?, value[4..].parse::<u8>().ok()?);
        let month = Month::try_from(month).ok()?;
        let next = if month == Month::December {
            Date::from_calendar_date(year + 1, Month::January, 1)
        } else {
            Date::from_calendar_date(year, month.next(), 1)
        };
        return next.ok()?.previous_day();
    }
    None
}

/// The SQL literal that names a partition in `ALTER TABLE … DROP PARTITION`.
fn partition_literal(partition: &str) -> Option<String> {
    let value = partition.trim_matches('\'');
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'-') && !value.is_empty() {
        Some(if value.contains('-') { format!("'{value}'") } else { value.to_owned() })
    } else {
        None
    }
}

/// The day `days` before `today` (days since the epoch).
fn before(today: u32, days: u32) -> i32 {
    today as i32 - days as i32
}

impl Retention {
    /// The period of `table`'s partitions, in days (none: the table is not expired by partition).
    fn table_days(&self, table: &str) -> Option<u32> {
        let s = &self.settings;
        Some(match table {
            "events" | "tracks" | "event_keys" | "erasure_targets" => s.track_metadata_days,
            "matches" | "identified_tracks" => s.identities_days,
            "best_shot_jpegs" => s.face_images_unmatched_days.max(s.face_images_matched_days),
            "face_descriptors" | "face_sketches" => s.descriptors_unmatched_days.max(s.descriptors_matched_days),
            "track_hour_sets" => s.aggregates_days,
            _ => return None,
        })
    }

    /// Runs retention now, on behalf of `by` (none: the schedule). `Ok(None)` when another run holds
    /// the lock.
    pub async fn run(&self, by: Option<&Principal>) -> Result<Option<RetentionRun>, ErasureError> {
        let pool = &self.eraser.pool;
        let mut lock = pool.acquire().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(RETENTION_LOCK).fetch_one(&mut *lock).await?;
        if !locked {
            return Ok(None);
        }
        let trigger = by.map_or_else(|| "schedule".to_owned(), |p| p.name.clone());
        let id: i64 = sqlx::query_scalar("INSERT INTO retention_runs (trigger) VALUES ($1) RETURNING id")
            .bind(&trigger)
            .fetch_one(pool)
            .await?;
        let outcome = self.expire().await;
        self.health.metrics.count(if outcome.is_ok() { "done" } else { "failed" }, outcome.as_ref().ok());
        let (state, counts, error) = match &outcome {
            Ok(counts) => ("done", serde_json::to_value(counts).unwrap_or_default(), None),
            Err(error) => ("failed", serde_json::json!({}), Some(error.to_string())),
        };
        sqlx::query(
            "UPDATE retention_runs SET finished_at = now(), outcome = $2, counts = $3, error = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(&counts)
        .bind(&error)
        .execute(pool)
        .await?;
        let principal = by.cloned().unwrap_or_else(scheduler);
        let entry = Entry {
            action: "privacy.retention",
            subject: format!("run {id}"),
            count: counts["keys"].as_i64(),
            detail: serde_json::json!({ "outcome": state, "counts": counts, "error": error }),
        };
        audit::record(pool, &principal, crate::SERVICE, entry).await?;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(RETENTION_LOCK).execute(&mut *lock).await;
        if let Err(error) = outcome {
            tracing::error!(%error, run = id, "retention run failed");
        }
        self.report_health().await?;
        Ok(self.runs(1).await?.into_iter().next())
    }

    /// Reads how retention fares from the runs every instance records and tells it: a failed last
    /// run or runs overdue are a limitation on `/readyz`, and the metrics follow.
    pub async fn report_health(&self) -> Result<(), sqlx::Error> {
        let fare: Fare = sqlx::query_as(
            "WITH latest AS (SELECT id, outcome, error FROM retention_runs WHERE outcome <> 'running' \
                             ORDER BY id DESC LIMIT 1), \
                  done AS (SELECT max(finished_at) AS at FROM retention_runs WHERE outcome = 'done'), \
                  first AS (SELECT min(started_at) AS at FROM retention_runs) \
             SELECT latest.id AS latest_id, latest.outcome AS latest_outcome, latest.error AS latest_error, \
                    extract(epoch FROM done.at)::bigint AS last_done_s, \
                    to_char(done.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"') AS last_done, \
                    coalesce(done.at, first.at) < now() - make_interval(secs => $1) AS overdue \
             FROM done CROSS JOIN first LEFT JOIN latest ON true",
        )
        .bind((self.every * OVERDUE_PERIODS).as_secs_f64())
        .fetch_one(&self.eraser.pool)
        .await?;
        let RetentionHealth { readiness, metrics } = &self.health;
        metrics.last_success.set(fare.last_done_s.unwrap_or(0));
        match fare.failing(self.every) {
            Some(reason) => {
                metrics.failing.set(1);
                readiness.unavailable(RETENTION, reason);
            }
            None => {
                metrics.failing.set(0);
                readiness.available(RETENTION);
            }
        }
        Ok(())
    }

    /// Expires what is past its period in every store.
    async fn expire(&self) -> Result<RetentionCounts, ErasureError> {
        let s = &self.settings;
        let pool = &self.eraser.pool;
        let today = key_day(now_ms());
        let mut counts = RetentionCounts::default();

        // 1. Keys, by class and match status.
        let longest = [s.face_images_unmatched_days, s.face_images_matched_days, s.descriptors_unmatched_days]
            .into_iter()
            .chain([s.descriptors_matched_days, s.identities_days])
            .max()
            .unwrap_or(0);
        let template_matched = s.descriptors_matched_days.max(s.identities_days);
        let mut expired: BTreeSet<String> = BTreeSet::new();
        for (class, matched, days) in [
            ("image", false, s.face_images_unmatched_days),
            ("image", true, s.face_images_matched_days),
            ("template", false, s.descriptors_unmatched_days),
            ("template", true, template_matched),
        ] {
            let tracks: Vec<String> = sqlx::query_scalar(
                "DELETE FROM track_keys WHERE class = $1 AND matched = $2 AND day < $3 \
                 RETURNING stream_id || '/' || track_id",
            )
            .bind(class)
            .bind(matched)
            .bind(before(today, days))
            .fetch_all(pool)
            .await?;
            counts.keys += tracks.len() as u64;
            expired.extend(tracks);
        }
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'track_keys'",
        )
        .fetch_all(pool)
        .await?;
        let cutoff = partition_name(u32::try_from(before(today, longest)).unwrap_or(0));
        for partition in partitions {
            // `track_keys_YYYYMMDD` sort as their days do.
            if partition.len() == cutoff.len() && partition < cutoff {
                sqlx::query(&format!("DROP TABLE IF EXISTS {partition}")).execute(pool).await?;
                counts.key_partitions += 1;
            }
        }

        // 2. The warehouse: the expired tracks' copies, then whole partitions past their periods.
        let expired: Vec<String> = expired.into_iter().collect();
        let targets = self.eraser.list(&expired).await?.keeping_shared_clips();
        self.eraser.mutate(&targets).await?;
        self.eraser.look_again_later(targets, "retention".into());
        counts.tracks = expired.len() as u64;
        let client = self.eraser.clickhouse.read_client();
        let parts: Vec<(String, String)> = match self.eraser.clickhouse.cluster_replicas(&client).await? {
            None => client.query(queries::TABLE_PARTITIONS),
            Some(replicas) => {
                client.query(queries::TABLE_PARTITIONS_CLUSTER).bind(replicas).bind(&self.eraser.clickhouse.database)
            }
        }
        .fetch_all()
        .await?;
        let today_date = time::OffsetDateTime::from_unix_timestamp(now_ms() / 1000).map(|t| t.date()).ok();
        for (table, partition) in parts {
            let (Some(days), Some(end), Some(literal), Some(today_date)) =
                (self.table_days(&table), partition_end(&partition), partition_literal(&partition), today_date)
            else {
                continue;
            };
            if end < today_date - time::Duration::days(i64::from(days)) {
                let drop =
                    self.eraser.clickhouse.maintenance(&format!("ALTER TABLE {table} DROP PARTITION {literal}"))?;
                client.query(&drop).execute().await?;
                counts.partitions.push(format!("{table} {literal}"));
            }
        }

        // The object store: whole days of best shots and clips (they show faces too) past the longest
        // image period (those of tracks whose image keys expired sooner went with their tracks' copies
        // above: a clip is kept as long as its track's face images, longer when it matched).
        if let Some(today_date) = today_date {
            let days = s.face_images_unmatched_days.max(s.face_images_matched_days);
            let first_kept = today_date - time::Duration::days(i64::from(days));
            counts.objects = self.eraser.objects.expire_days_before(MediaKind::BestShot, first_kept).await?;
            counts.objects += self.eraser.objects.expire_days_before(MediaKind::Clip, first_kept).await?;
        }

        // 3. PostgreSQL: alerts and the audit trail; the alerts' scenes with them, a day at a time in
        // the object store (their best shots are the reports' objects, above).
        counts.alerts = sqlx::query("DELETE FROM alerts WHERE raised_at < now() - make_interval(days => $1)")
            .bind(s.alerts_days as i32)
            .execute(pool)
            .await?
            .rows_affected();
        if let Some(today_date) = today_date {
            let first_kept = today_date - time::Duration::days(i64::from(s.alerts_days));
            counts.objects += self.eraser.objects.expire_days_before(MediaKind::Scene, first_kept).await?;
        }
        let mut transaction = pool.begin().await?;
        sqlx::query("SET LOCAL sightline.retention = 'on'").execute(&mut *transaction).await?;
        counts.audit_records = sqlx::query("DELETE FROM audit_log WHERE at < now() - make_interval(days => $1)")
            .bind(s.audit_days as i32)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        transaction.commit().await?;
        Ok(counts)
    }

    /// The latest `limit` runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RetentionRun>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, \
             (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms, trigger, outcome, counts, error \
             FROM retention_runs ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.eraser.pool)
        .await
    }

    /// Runs retention every `every` (the latest run's start decides, so instances together run it
    /// at that pace), the first look `start_delay` after the start, until `shutdown`; tells how
    /// retention fares at the start and each minute.
    pub async fn schedule(self, mut shutdown: Shutdown) {
        if let Err(error) = self.report_health().await {
            tracing::warn!(%error, "reading how retention fares");
        }
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(self.start_delay) => {}
        }
        loop {
            let due: Result<bool, sqlx::Error> = sqlx::query_scalar(
                "SELECT coalesce(max(started_at), 'epoch') < now() - make_interval(secs => $1) FROM retention_runs",
            )
            .bind(self.every.as_secs_f64())
            .fetch_one(&self.eraser.pool)
            .await;
            match due {
                Ok(true) => match self.run(None).await {
                    Ok(Some(run)) => tracing::info!(run = run.id, outcome = %run.outcome, "retention ran"),
                    Ok(None) => tracing::debug!("another instance runs retention"),
                    Err(error) => tracing::error!(%error, "retention could not run"),
                },
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "checking when retention last ran"),
            }
            if let Err(error) = self.report_health().await {
                tracing::warn!(%error, "reading how retention fares");
            }
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(Duration::from_secs(60).min(self.every)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_last_run_or_runs_overdue_are_failing() {
        let hour = Duration::from_secs(3_600);
        let fare = |outcome: Option<&str>, overdue: Option<bool>| Fare {
            latest_id: outcome.map(|_| 7),
            latest_outcome: outcome.map(str::to_owned),
            latest_error: Some("warehouse: connection refused".into()),
            last_done_s: None,
            last_done: None,
            overdue,
        };
        assert_eq!(fare(None, None).failing(hour), None, "no run yet: not failing");
        assert_eq!(fare(Some("done"), Some(false)).failing(hour), None);
        let failed = fare(Some("failed"), Some(false)).failing(hour).expect("failing");
        assert!(failed.starts_with("run 7 failed: warehouse: connection refused;"), "{failed}");
        assert!(failed.contains("no run has succeeded yet"), "{failed}");
        let overdue = fare(Some("done"), Some(true)).failing(hour).expect("overdue");
        assert!(overdue.starts_with("no run has succeeded for over 3.0 h"), "{overdue}");
    }

    #[test]
    fn partitions_end_on_their_last_day() {
        let day = |y, m, d| Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), d).ok();
        assert_eq!(partition_end("'2026-12-06'"), day(2026, 12, 6));
        assert_eq!(partition_end("2026-12-06"), day(2026, 12, 6));
        assert_eq!(partition_end("202612"), day(2026, 12, 31));
        assert_eq!(partition_end("202602"), day(2026, 2, 28));
        assert_eq!(partition_end("tuple()"), None);
        assert_eq!(partition_literal("'2026-12-06'").as_deref(), Some("'2026-12-06'"));
        assert_eq!(partition_literal("202612").as_deref(), Some("202612"));
        assert_eq!(partition_literal("x; DROP"), None);
    }
}
