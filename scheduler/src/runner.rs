//! The run loop: claim a due schedule, build its report from the warehouse, mail it, record the
//! delivery and move the schedule on, never sooner than the minimum interval after the run. Failures
//! are retried with backoff and jitter, then the run is given up (and recorded); every instance may
//! run the loop (claims are row locks).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sightline_common::audit::{self, Entry};
use sightline_common::auth::Principal;
use sightline_common::clock::now_ms;
use sightline_common::keys::KeyRing;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sightline_exporter::{PdfFonts, ReportClock, events_csv, report_pdf};
use sightline_query::params::{EventsRequest, MAX_MAILED_EVENTS, MAX_REPORT_EVENTS, TimeRange};
use sightline_query::reports;
use sightline_query::store::Warehouse;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use crate::schedule::{Cron, Format};
use crate::store::{self, Outcome, Schedule};
use sightline_common::mail::{Mail, Mailer};

/// Attempts of one run before it is given up (with the default delays, about ten minutes of
/// retries).
pub const MAX_ATTEMPTS: i32 = 8;
/// Events in a PDF report.
pub const PDF_EVENTS: u32 = 50;

/// The loop's metrics (prefix `sightline_scheduler`).
#[derive(Clone, Default)]
pub struct SchedulerMetrics {
    /// Reports the relay accepted.
    pub sent: Counter,
    /// Attempts that failed (building or sending).
    pub failed: Counter,
}

impl SchedulerMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("sightline_scheduler");
        registry.register("reports_sent", "Scheduled reports the relay accepted", metrics.sent.clone());
        registry.register("report_failures", "Failed attempts to build or send a report", metrics.failed.clone());
        metrics
    }
}

/// What the loop needs.
#[derive(Clone)]
pub struct Runner {
    /// Schedules and deliveries.
    pub pool: PgPool,
    /// The events.
    pub warehouse: Warehouse,
    /// The track keys that open the best shots the warehouse keeps sealed (PDF reports show them).
    pub keys: Arc<KeyRing>,
    /// The relay.
    pub mailer: Mailer,
    /// How often to look for due schedules.
    pub poll: Duration,
    /// First retry delay (doubles per failure, with jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// The shortest time between two runs of a schedule.
    pub min_interval: Duration,
    /// Counters.
    pub metrics: SchedulerMetrics,
    /// The fonts PDF reports are set in.
    pub fonts: PdfFonts,
}

/// A built report: attachment, its name and type, and how many events it holds.
struct Built {
    bytes: Vec<u8>,
    filename: String,
    content_type: &'static str,
    events: usize,
}

impl Runner {
    /// Runs until `shutdown`.
    pub async fn run(self, mut shutdown: Shutdown) {
        loop {
            match self.run_due().await {
                Ok(0) => {}
                Ok(sent) => tracing::debug!(sent, "due schedules handled"),
                Err(error) => tracing::error!(%error, "looking for due schedules"),
            }
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Handles every schedule due now; returns how many.
    pub async fn run_due(&self) -> Result<usize, sqlx::Error> {
        let mut handled = 0;
        while let Some(claim) = store::claim_due(&self.pool).await? {
            let schedule = claim.schedule.clone();
            let span = tracing::info_span!("report", schedule = %schedule.name, attempt = claim.attempts + 1);
            let started = now_ms();
            let result = self.deliver(&schedule, started).instrument(span.clone()).await;
            let cron = Cron::parse(&schedule.cron, &schedule.tz);
            let min_interval_ms = i64::try_from(self.min_interval.as_millis()).unwrap_or(i64::MAX);
            let due = schedule.next_run_ms.min(started);
            let next_cron = cron.as_ref().ok().and_then(|c| c.next_run(due, min_interval_ms));
            let outcome = span.in_scope(|| match (result, next_cron) {
                (Ok((events, bytes)), Some(next)) => {
                    tracing::info!(events, bytes, "report sent");
                    self.metrics.sent.inc();
                    Outcome { ok: true, events, bytes, error: String::new(), next_run_ms: next, retry: false }
                }
                (Err(error), next) => {
                    let retry = claim.attempts + 1 < MAX_ATTEMPTS || next.is_none();
                    let failures = u32::try_from(claim.attempts + 1).unwrap_or(1);
                    let delay = Backoff::delay_after(self.retry_base, self.retry_max, failures);
                    let backoff = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    tracing::warn!(%error, retry, "report not sent");
                    self.metrics.failed.inc();
                    let next_run_ms = if retry { started + backoff } else { next.unwrap_or(started + backoff) };
                    Outcome { ok: false, events: 0, bytes: 0, error, next_run_ms, retry }
                }
                (Ok((events, bytes)), None) => {
                    // The expression has no further run: park the schedule far ahead.
                    self.metrics.sent.inc();
                    let next_run_ms = i64::from(i32::MAX) * 1000;
                    Outcome { ok: true, events, bytes, error: String::new(), next_run_ms, retry: false }
                }
            });
            claim.finish(outcome).instrument(span).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Builds and mails `schedule`'s report for the range ending at `now_ms`; the number of events and
    /// the attachment's size.
    async fn deliver(&self, schedule: &Schedule, now_ms: i64) -> Result<(i32, i32), String> {
        let built = self.build(schedule, now_ms).await?;
        let counts = (built.events as i32, built.bytes.len() as i32);
        let mail = Mail {
            subject: &schedule.name,
            body: format!(
                "Sightline report \"{}\": {} events from {} to {}.\n",
                schedule.name,
                built.events,
                sightline_exporter::format_time(now_ms - i64::from(schedule.range_hours) * 3_600_000),
                sightline_exporter::format_time(now_ms),
            ),
            to: &schedule.recipients,
            filename: &built.filename,
            content_type: built.content_type,
            attachment: built.bytes,
            message_id: format!("{}.{}@sightline", schedule.id, schedule.next_run_ms),
        };
        // Who receives what is recorded before it leaves (a report holds names and matches).
        let entry = Entry {
            action: if schedule.format == Format::Pdf { "export.mail.pdf" } else { "export.mail.csv" },
            subject: format!("schedule {} ({})", schedule.id, schedule.name),
            count: Some(i64::from(counts.0)),
            detail: serde_json::json!({
                "recipients": schedule.recipients,
                "from_ms": now_ms - i64::from(schedule.range_hours) * 3_600_000,
                "to_ms": now_ms,
                "filters": schedule.filters,
            }),
        };
        audit::record(&self.pool, &Principal::service("scheduler"), "scheduler", entry)
            .await
            .map_err(|e| format!("recording the mail in the audit log: {e}"))?;
        self.mailer.send(mail).await.map_err(|e| e.to_string())?;
        Ok(counts)
    }

    async fn build(&self, schedule: &Schedule, now_ms: i64) -> Result<Built, String> {
        let filter = schedule.filters.to_event_filter()?;
        let range = TimeRange { from_ms: now_ms - i64::from(schedule.range_hours) * 3_600_000, to_ms: now_ms };
        let slug: String = schedule
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        match schedule.format {
            Format::Csv => {
                let request = EventsRequest { range, filter, limit: MAX_MAILED_EVENTS, cursor: None };
                let events =
                    reports::collect_events(&self.warehouse, &request, None).await.map_err(|e| e.to_string())?;
                let bytes = events_csv(&events).map_err(|e| e.to_string())?;
                Ok(Built {
                    bytes,
                    filename: format!("{slug}.csv"),
                    content_type: "text/csv; charset=utf-8",
                    events: events.len(),
                })
            }
            Format::Pdf => {
                let request = EventsRequest { range, filter, limit: PDF_EVENTS.min(MAX_REPORT_EVENTS), cursor: None };
                let clock = ReportClock::named(&schedule.tz).unwrap_or_else(|_| ReportClock::utc());
                let mut report = reports::summary(&self.warehouse, &self.keys, &request, &schedule.name, now_ms, clock)
                    .await
                    .map_err(|e| e.to_string())?;
                reports::name_streams(&self.pool, &mut report).await.map_err(|e| format!("naming streams: {e}"))?;
                let events = report.events.len();
                let fonts = self.fonts.clone();
                let bytes = tokio::task::spawn_blocking(move || report_pdf(&report, &fonts))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Built { bytes, filename: format!("{slug}.pdf"), content_type: "application/pdf", events })
            }
        }
    }
}
