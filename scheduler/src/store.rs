//! Schedules and deliveries in PostgreSQL (`report_schedules`, `report_deliveries`). Times cross the
//! boundary as ms since the epoch.

use serde::Serialize;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::schedule::{Filters, Format, NewSchedule};

/// A stored schedule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Id.
    pub id: Uuid,
    /// Name (the mail's subject).
    pub name: String,
    /// Cron expression (seconds first, in `tz`).
    pub cron: String,
    /// The time zone it runs in and its report shows times in.
    pub tz: String,
    /// `pdf` or `csv`.
    pub format: Format,
    /// Hours before each run the report covers.
    pub range_hours: i32,
    /// Event filters.
    pub filters: Filters,
    /// Mail addresses.
    pub recipients: Vec<String>,
    /// Whether it runs.
    pub enabled: bool,
    /// Next run, ms since the epoch.
    pub next_run_ms: i64,
}

/// One attempt to send a scheduled report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The run it belongs to, ms since the epoch.
    pub due_ms: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// When it finished, ms since the epoch.
    pub finished_ms: i64,
    /// Whether the mail server accepted it.
    pub ok: bool,
    /// Events in the report.
    pub events: i32,
    /// Size of the attachment.
    pub bytes: i32,
    /// Why it failed (empty when it did not).
    pub error: String,
}

const COLUMNS: &str = "id, name, cron, tz, format, range_hours, filters, recipients, enabled, \
                       (extract(epoch from next_run_at) * 1000)::bigint AS next_run_ms";

fn schedule_from(row: &sqlx::postgres::PgRow) -> Result<Schedule, sqlx::Error> {
    let format: String = row.try_get("format")?;
    let filters: serde_json::Value = row.try_get("filters")?;
    Ok(Schedule {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        cron: row.try_get("cron")?,
        tz: row.try_get("tz")?,
        format: Format::parse(&format).ok_or_else(|| sqlx::Error::Decode(format!("format {format:?}").into()))?,
        range_hours: row.try_get("range_hours")?,
        filters: serde_json::from_value(filters).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        recipients: row.try_get("recipients")?,
        enabled: row.try_get("enabled")?,
        next_run_ms: row.try_get("next_run_ms")?,
    })
}

/// Stores `schedule` with its first run at `next_run_ms`. `Ok(None)` if the name is taken.
pub async fn create(pool: &PgPool, schedule: &NewSchedule, next_run_ms: i64) -> Result<Option<Schedule>, sqlx::Error> {
    let filters = serde_json::to_value(&schedule.filters).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let row = sqlx::query(&format!(
        "INSERT INTO report_schedules (name, cron, format, range_hours, filters, recipients, enabled, next_run_at, tz) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0), $9) ON CONFLICT (name) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(schedule.name.trim())
    .bind(&schedule.cron)
    .bind(schedule.format.as_str())
    .bind(schedule.range_hours)
    .bind(filters)
    .bind(&schedule.recipients)
    .bind(schedule.enabled)
    .bind(next_run_ms as f64)
    .bind(&schedule.tz)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(schedule_from).transpose()
}

/// Every schedule, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<Schedule>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM report_schedules ORDER BY name")).fetch_all(pool).await?;
    rows.iter().map(schedule_from).collect()
}

/// One schedule.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Schedule>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM report_schedules WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(schedule_from).transpose()
}

/// Deletes a schedule (and its deliveries); whether it existed.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM report_schedules WHERE id = $1").bind(id).execute(pool).await?.rows_affected() > 0)
}

/// Makes a schedule due now (a run on demand).
pub async fn run_now(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE report_schedules SET next_run_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The latest deliveries of a schedule, newest first.
pub async fn deliveries(pool: &PgPool, id: Uuid, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT (extract(epoch from due_at) * 1000)::bigint AS due_ms, attempt, \
         (extract(epoch from finished_at) * 1000)::bigint AS finished_ms, ok, events, bytes, error \
         FROM report_deliveries WHERE schedule_id = $1 ORDER BY finished_at DESC, attempt DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Delivery {
                due_ms: row.try_get("due_ms")?,
                attempt: row.try_get("attempt")?,
                finished_ms: row.try_get("finished_ms")?,
                ok: row.try_get("ok")?,
                events: row.try_get("events")?,
                bytes: row.try_get("bytes")?,
                error: row.try_get("error")?,
            })
        })
        .collect()
}

/// A due schedule, locked for this instance until the transaction ends: no other instance sends
/// the same run.
pub struct Claim {
    /// The schedule.
    pub schedule: Schedule,
    /// Failed attempts already made for this run.
    pub attempts: i32,
    transaction: Transaction<'static, Postgres>,
}

/// Claims the schedule due longest ago, if any (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_due(pool: &PgPool) -> Result<Option<Claim>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, failures FROM report_schedules WHERE enabled AND next_run_at <= now() \
         ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .fetch_optional(&mut *transaction)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let schedule = schedule_from(&row)?;
    let attempts: i32 = row.try_get("failures")?;
    Ok(Some(Claim { schedule, attempts, transaction }))
}

/// What became of a claimed run.
pub struct Outcome {
    /// Whether the mail was accepted.
    pub ok: bool,
    /// Events in the report.
    pub events: i32,
    /// Size of the attachment.
    pub bytes: i32,
    /// Why it failed.
    pub error: String,
    /// When to look at the schedule next: its next cron run, or a retry.
    pub next_run_ms: i64,
    /// Whether the next attempt retries this run (else it is a new run).
    pub retry: bool,
}

impl Claim {
    /// Records the attempt, moves the schedule on and releases it.
    pub async fn finish(mut self, outcome: Outcome) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO report_deliveries (schedule_id, due_at, attempt, ok, events, bytes, error) \
             VALUES ($1, to_timestamp($2 / 1000.0), $3, $4, $5, $6, $7)",
        )
        .bind(self.schedule.id)
        .bind(self.schedule.next_run_ms as f64)
        .bind(self.attempts + 1)
        .bind(outcome.ok)
        .bind(outcome.events)
        .bind(outcome.bytes)
        .bind(&outcome.error)
        .execute(&mut *self.transaction)
        .await?;
        sqlx::query("UPDATE report_schedules SET next_run_at = to_timestamp($2 / 1000.0), failures = $3 WHERE id = $1")
            .bind(self.schedule.id)
            .bind(outcome.next_run_ms as f64)
            .bind(if outcome.retry { self.attempts + 1 } else { 0 })
            .execute(&mut *self.transaction)
            .await?;
        self.transaction.commit().await
    }
}
