//! The delivery loop: drains `alert_deliveries` (the outbox the raising stage fills) in any number of
//! notifiers at once.
//!
//! A due delivery is claimed with `FOR UPDATE SKIP LOCKED`, which moves its `due_at` a lease ahead:
//! a notifier that dies mid-delivery leaves it to be claimed again when the lease ends, so nothing is
//! lost (a receiver may see an alert twice, with the same `Idempotency-Key`). Every attempt is
//! recorded in `alert_delivery_attempts`; a failure that may pass later is retried after the shared
//! jittered backoff, up to `max_attempts`, then recorded as `failed`, as is a failure retrying cannot
//! fix (a 4xx answer, a refused recipient).

use rdkafka::producer::FutureProducer;
use sightline_common::http::Readiness;
use sightline_common::keys::KeyRing;
use sightline_common::mail::Mailer;
use sightline_common::shutdown::Shutdown;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::alert::Alert;
use crate::channels::{self, Attempt};
use crate::metrics::NotifierMetrics;
use crate::settings::NotifierSettings;

/// Tries of a database step of one delivery before it is left to the claim's lease.
const PROMPT_TRIES: u32 = 5;

/// `step` until it succeeds, at most [`PROMPT_TRIES`] times, pausing between tries by the shared
/// backoff (200 ms doubling to 2 s, with jitter): the last error if every try failed.
async fn promptly<T, F, Fut>(mut step: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 0;
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if tries + 1 >= PROMPT_TRIES => return Err(error),
            Err(error) => {
                tries += 1;
                tracing::debug!(%error, tries, "a delivery's database step failed; trying again");
                let delay = sightline_common::retry::Backoff::delay_after(
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                    tries,
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Everything deliveries need.
#[derive(Clone)]
pub struct Deliverer {
    /// The outbox and the attempts.
    pub pool: PgPool,
    /// Settings (attempts, backoff, lease, base URL).
    pub settings: Arc<NotifierSettings>,
    /// Webhooks.
    pub webhook: channels::webhook::WebhookChannel,
    /// Mail.
    pub mailer: Mailer,
    /// Alerts topic.
    pub producer: FutureProducer,
    /// Metrics.
    pub metrics: NotifierMetrics,
    /// Blocked (condition `deliveries`) while the outbox cannot be read.
    pub readiness: Readiness,
    /// The alerts' best shots, attached to mail.
    pub images: crate::images::AlertImages,
    /// The track keys that seal alerts on the alerts topic.
    pub keys: Arc<KeyRing>,
}

/// A claimed delivery.
#[derive(Debug)]
struct Claimed {
    alert_id: Uuid,
    channel: String,
    target: serde_json::Value,
    attempts: i32,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Claimed {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            alert_id: row.try_get("alert_id")?,
            channel: row.try_get("channel")?,
            target: row.try_get("target")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

impl Deliverer {
    /// Delivers until `shutdown`: at once when `wake` is notified (a new alert), else every
    /// `poll_ms` (retries that came due). Deliveries in flight are bounded by
    /// `max_deliveries_in_flight`; shutdown waits for those in flight up to their timeout.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: Shutdown) {
        let slots = Arc::new(Semaphore::new(self.settings.max_deliveries_in_flight.max(1)));
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let free = slots.available_permits();
            let claimed = if free == 0 { Ok(Vec::new()) } else { self.claim(free).await };
            let claimed = match claimed {
                Ok(claimed) => {
                    self.readiness.clear("deliveries");
                    claimed
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming deliveries failed");
                    self.readiness.block("deliveries", format!("cannot read the delivery outbox: {error}"));
                    Vec::new()
                }
            };
            let full = claimed.len() == free && free > 0;
            for delivery in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                let this = self.clone();
                tasks.spawn(async move {
                    this.deliver(delivery).await;
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
            if full {
                continue; // more may be due
            }
            tokio::select! {
                _ = shutdown.requested() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Claims up to `limit` due deliveries for a lease.
    async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
        sqlx::query_as(
            "UPDATE alert_deliveries d SET due_at = now() + make_interval(secs => $2::double precision / 1000) \
             FROM (SELECT alert_id, channel FROM alert_deliveries \
                   WHERE status = 'pending' AND due_at <= now() AND channel <> 'live' \
                   ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) due \
             WHERE d.alert_id = due.alert_id AND d.channel = due.channel \
             RETURNING d.alert_id, d.channel, d.target, d.attempts",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(self.settings.claim_lease_ms).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
    }

    /// One attempt of one delivery, recorded. Reading the alert and recording the attempt are
    /// retried a few times at once while the database fails (it may be short of connections), so a
    /// delivery does not wait for its lease to end; only then is it left to the lease.
    async fn deliver(&self, delivery: Claimed) {
        let started = Instant::now();
        let alert = match promptly(|| Alert::load(&self.pool, delivery.alert_id)).await {
            Ok(Some(alert)) => alert,
            Ok(None) => return, // its rule was deleted with its alerts
            Err(error) => {
                tracing::warn!(%error, alert = %delivery.alert_id, "loading an alert failed; the lease will retry it");
                return;
            }
        };
        let attempt = self.attempt(&alert, &delivery).await;
        let number = delivery.attempts + 1;
        let exhausted = u32::try_from(number).unwrap_or(u32::MAX) >= self.settings.max_attempts;
        let (outcome, status_code, error) = match &attempt {
            Attempt::Delivered { status_code } => ("delivered", *status_code, String::new()),
            Attempt::Retry { status_code, error } if !exhausted => ("retry", *status_code, error.clone()),
            Attempt::Retry { status_code, error } => {
                ("failed", *status_code, format!("{error}; given up after {number} attempts"))
            }
            Attempt::Fail { status_code, error } => ("failed", *status_code, error.clone()),
        };
        self.metrics.attempt(&delivery.channel, outcome, alert.capture_time_ms);
        let retry_in = self.settings.retry_delay(u32::try_from(number).unwrap_or(u32::MAX));
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let recorded =
            promptly(|| self.record(&delivery, number, outcome, status_code, &error, duration_ms, retry_in)).await;
        match (&attempt, outcome) {
            (_, "delivered") => {
                tracing::info!(alert = %alert.id, channel = %delivery.channel, attempt = number, "alert delivered")
            }
            (_, "retry") => {
                tracing::warn!(alert = %alert.id, channel = %delivery.channel, attempt = number, %error, retry_in_ms = retry_in.as_millis() as u64, "delivery failed; retrying")
            }
            _ => {
                tracing::error!(alert = %alert.id, channel = %delivery.channel, attempt = number, %error, "delivery failed; given up")
            }
        }
        if let Err(error) = recorded {
            tracing::warn!(%error, alert = %alert.id, "recording a delivery attempt failed; the lease will retry it");
        }
    }

    async fn attempt(&self, alert: &Alert, delivery: &Claimed) -> Attempt {
        let target = &delivery.target;
        match delivery.channel.as_str() {
            "webhook" => {
                let url = target["url"].as_str().unwrap_or_default();
                let secret = target["secret"].as_str().unwrap_or_default();
                let body = alert.document(&self.settings.best_shot_base_url).to_string().into_bytes();
                self.webhook.send(url, secret, &alert.id.to_string(), body).await
            }
            "email" => {
                let to: Vec<String> = target["to"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let best_shot = match self.images.best_shot(&self.pool, alert.id).await {
                    Ok(best_shot) => best_shot,
                    Err(error) => {
                        return Attempt::Retry { status_code: 0, error: format!("loading the best shot: {error}") };
                    }
                };
                channels::email::send(&self.mailer, alert, &to, best_shot, &self.settings.best_shot_base_url).await
            }
            "kafka" => {
                let topic = target["topic"].as_str().unwrap_or(&self.settings.alerts_topic);
                channels::kafka::send(&self.producer, topic, alert, &self.keys).await
            }
            other => Attempt::Fail { status_code: 0, error: format!("unknown channel {other:?}") },
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        delivery: &Claimed,
        number: i32,
        outcome: &str,
        status_code: u16,
        error: &str,
        duration_ms: i32,
        retry_in: Duration,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO alert_delivery_attempts (alert_id, channel, attempt, outcome, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(delivery.alert_id)
        .bind(&delivery.channel)
        .bind(number)
        .bind(outcome)
        .bind(i32::from(status_code))
        .bind(error)
        .bind(duration_ms)
        .execute(&mut *tx)
        .await?;
        let status = if outcome == "retry" { "pending" } else { outcome };
        sqlx::query(
            "UPDATE alert_deliveries SET status = $3, attempts = $4, last_error = $5, \
             due_at = now() + make_interval(secs => $6::double precision / 1000), \
             delivered_at = CASE WHEN $3 = 'delivered' THEN now() END \
             WHERE alert_id = $1 AND channel = $2",
        )
        .bind(delivery.alert_id)
        .bind(&delivery.channel)
        .bind(status)
        .bind(number)
        .bind(error)
        .bind(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
}
