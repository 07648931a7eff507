//! The raising stage: enriched events in, alerts out, in a consumer group that scales by partitions.
//!
//! For each face report with a watchlist match, every enabled rule that applies raises an alert in
//! one PostgreSQL transaction, before anything is delivered:
//! - the alert's id is UUID v5 of (rule, stream, track) and `alerts` is unique on those, so later
//!   reports of the track, replays and redeliveries after a crash raise nothing new;
//! - a person already alerted by the rule on the stream within the cooldown (by capture time) raises
//!   nothing; the check and the insert hold an advisory lock on (rule, person, stream), so concurrent
//!   notifiers cannot both pass it;
//! - the alert's deliveries (one row per channel) are inserted in the same transaction, so an alert
//!   never exists without them; the delivery workers ([`crate::deliver`]) are woken at once.
//!
//! A rule applies to events appended to the topic after it was created, and no event appended more
//! than `max_event_age_secs` ago raises an alert: an alert is news, and a replay or a backlog after an
//! outage must not page security staff about people who left long ago (they are in the warehouse).
//!
//! Offsets are committed only after the batch's transactions committed (or its poison messages were
//! dead-lettered): a crash replays the uncommitted tail, which the unique key makes harmless.

use prost::Message as _;
use rdkafka::Message as _;
use sightline_common::clock::now_ms;
use sightline_common::consumer::{self, GroupConsumer, Message};
use sightline_common::http::Readiness;
use sightline_common::keys::KeyRing;
use sightline_common::retry::Backoff;
use sightline_common::sealing;
use sightline_common::shutdown::Shutdown;
use sightline_schemas::v1::{EnrichedEvent, MatchResult, ObjectKind};
use sightline_schemas::validate;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::images::BestShotObject;
use crate::metrics::NotifierMetrics;
use crate::rules::{AlertRule, SharedRules};

/// Namespace of alert ids (UUID v5 of rule, stream and track).
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x7a1e_47c0_55d2_4f0e_8b5c_2d9e_a3f1_0c01);

/// The alert id of `rule` for a track: the same on every replay.
pub fn alert_id(rule: Uuid, stream_id: &str, track_id: &str) -> Uuid {
    Uuid::new_v5(&ALERT_NAMESPACE, format!("{rule}/{stream_id}/{track_id}").as_bytes())
}

/// What the stage needs.
pub struct Raiser {
    /// Rules, alerts and deliveries.
    pub pool: PgPool,
    /// The rules in force.
    pub rules: SharedRules,
    /// Topic of the `kafka` channel, recorded on its deliveries.
    pub alerts_topic: String,
    /// Woken when new deliveries are waiting.
    pub wake: Arc<Notify>,
    /// Blocked (condition `postgres`) while alerts cannot be stored.
    pub readiness: Readiness,
    /// Metrics.
    pub metrics: NotifierMetrics,
    /// Bounds on an event's fields.
    pub limits: validate::Limits,
    /// Messages per batch at most.
    pub batch_max: usize,
    /// How long a batch waits for more after its first.
    pub batch_linger: Duration,
    /// Events appended longer ago than this raise no alert (a backlog after an outage, a replay).
    pub max_event_age_ms: i64,
    /// Keeps each new alert's scene.
    pub scenes: crate::scene::Scenes,
    /// Opens the events' sealed best shots and matches.
    pub keys: Arc<KeyRing>,
    /// Stores each new alert's best shot.
    pub images: crate::images::AlertImages,
}

/// Longest an alert waits for its best shot to be stored.
const STORE_WAIT: Duration = Duration::from_millis(500);

/// One alert to raise.
struct Candidate<'a> {
    rule: &'a AlertRule,
    event: &'a EnrichedEvent,
    best: &'a MatchResult,
}

impl Raiser {
    /// Runs until `shutdown`; a batch interrupted by shutdown is left uncommitted and read again.
    pub async fn run(&self, consumer: &GroupConsumer, mut shutdown: Shutdown) {
        while let Some(batch) = consumer.recv_batch(self.batch_max, self.batch_linger, &mut shutdown).await {
            if !self.process(consumer, &batch, &shutdown).await {
                return;
            }
            consumer.commit(consumer::next_offsets(&batch)).await;
        }
    }

    /// Raises the batch's alerts; `false` on shutdown before all were stored.
    async fn process(&self, consumer: &GroupConsumer, batch: &[Message<'_>], shutdown: &Shutdown) -> bool {
        let rules: Vec<AlertRule> = self.rules.read().map(|r| r.clone()).unwrap_or_default();
        let checked: Vec<_> = batch.iter().map(|message| self.decode(message)).collect();
        let sealed = checked.iter().flatten().flat_map(sealing::sealed_parts);
        if !self.keys.load_until_done(sealed, shutdown, &self.readiness, &self.metrics.key_errors).await {
            return false;
        }
        for (message, checked) in batch.iter().zip(checked) {
            let event = match checked.and_then(|event| self.open(event)) {
                Ok(event) => event,
                Err(invalid) => {
                    if !consumer.dead_letter(message, invalid.reason, &invalid.detail, shutdown).await {
                        return false;
                    }
                    continue;
                }
            };
            // When the event was appended to the topic (the producer's time), to tell new events from
            // events read again, and events that waited too long to be worth an alert.
            let appended_ms = message.timestamp().to_millis().unwrap_or_else(now_ms);
            let candidates = candidates(&rules, &event, appended_ms);
            if !candidates.is_empty() && now_ms() - appended_ms > self.max_event_age_ms {
                self.metrics.skipped("stale");
                continue;
            }
            for candidate in candidates {
                if !self.raise_until_stored(&candidate, shutdown).await {
                    return false;
                }
            }
        }
        true
    }

    /// The message's event, decoded; it is validated once opened ([`Self::open`]).
    fn decode(&self, message: &Message<'_>) -> Result<EnrichedEvent, validate::Invalid> {
        let payload = validate::payload(message.payload())?;
        let event = EnrichedEvent::decode(payload).map_err(|e| validate::Invalid::decode("EnrichedEvent", e))?;
        validate::schema_version(event.schema_version)?;
        Ok(event)
    }

    /// `event` with its sealed fields opened (keys loaded by the caller), checked in clear.
    fn open(&self, mut event: EnrichedEvent) -> Result<EnrichedEvent, validate::Invalid> {
        sealing::open_enriched(&mut event, &self.keys)?;
        validate::enriched(&event, &self.limits)?;
        Ok(event)
    }

    /// Raises one candidate, retrying with backoff while PostgreSQL fails; `false` on shutdown first.
    async fn raise_until_stored(&self, candidate: &Candidate<'_>, shutdown: &Shutdown) -> bool {
        // The best shot is stored first, so the alert's mail and desk have it; an alert waits at most
        // STORE_WAIT for a slow store (the store goes on in the background, and the writer stores the
        // same object anyway).
        let best_shot = candidate.event.detection.as_ref().and_then(BestShotObject::of);
        let named = best_shot.as_ref().map(|b| (b.key.clone(), b.sealed));
        if let Some(best_shot) = best_shot {
            let _ = tokio::time::timeout(STORE_WAIT, self.images.store(best_shot)).await;
        }
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut shutdown = shutdown.clone();
        loop {
            let started = Instant::now();
            match self.raise(candidate, named.as_ref()).await {
                Ok(outcome) => {
                    self.readiness.clear("postgres");
                    match outcome {
                        Outcome::Raised(id) => {
                            self.metrics.raised.inc();
                            self.metrics.raise_seconds.observe(started.elapsed().as_secs_f64());
                            self.wake.notify_one();
                            if let Some(detection) = &candidate.event.detection {
                                self.scenes.keep(id, &detection.stream_id, detection.capture_time_ms);
                            }
                        }
                        Outcome::Exists => {}
                        Outcome::Cooldown => self.metrics.skipped("cooldown"),
                    }
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, "storing an alert failed; retrying");
                    self.readiness.block("postgres", format!("cannot store alerts: {error}"));
                }
            }
            if !backoff.pause(&mut shutdown).await {
                return false;
            }
        }
    }

    /// Stores the alert of `candidate`, naming its best shot's object (`(key, sealed)`), if any.
    async fn raise(
        &self,
        candidate: &Candidate<'_>,
        best_shot: Option<&(String, bool)>,
    ) -> Result<Outcome, sqlx::Error> {
        let Candidate { rule, event, best } = candidate;
        let Some(detection) = &event.detection else { return Ok(Outcome::Exists) };
        let id = alert_id(rule.id, &detection.stream_id, &detection.track_id);
        let person: Uuid = best.person_id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let list: Uuid = best.list_id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("alert/{}/{person}/{}", rule.id, detection.stream_id))
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM alerts WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if exists {
            return Ok(Outcome::Exists);
        }
        let cooldown_ms = i64::from(rule.cooldown_secs) * 1000;
        let in_cooldown: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE rule_id = $1 AND person_id = $2 AND stream_id = $3 \
             AND capture_time_ms > $4 - $5 AND capture_time_ms < $4 + $5)",
        )
        .bind(rule.id)
        .bind(person)
        .bind(&detection.stream_id)
        .bind(detection.capture_time_ms)
        .bind(cooldown_ms)
        .fetch_one(&mut *tx)
        .await?;
        if in_cooldown {
            return Ok(Outcome::Cooldown);
        }
        // The template key that sealed the match: the alerts topic's copy is sealed with it too.
        let key = event
            .sealed
            .as_ref()
            .and_then(|sealed| uuid::Uuid::parse_str(&sealed.key_id).ok().map(|id| (sealed.key_day, id)));
        sqlx::query(
            "INSERT INTO alerts (id, rule_id, stream_id, site, track_id, event_id, list_id, list_name, person_id, \
             person_external_id, person_display_name, similarity, first_seen_ms, capture_time_ms, best_shot_key, \
             best_shot_sealed, key_id, key_day) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(id)
        .bind(rule.id)
        .bind(&detection.stream_id)
        .bind(&detection.site)
        .bind(&detection.track_id)
        .bind(&event.event_id)
        .bind(list)
        .bind(&best.list_name)
        .bind(person)
        .bind(&best.person_external_id)
        .bind(&best.person_display_name)
        .bind(best.similarity)
        .bind(detection.first_seen_ms)
        .bind(detection.capture_time_ms)
        .bind(best_shot.map(|(key, _)| key.as_str()))
        .bind(best_shot.is_some_and(|(_, sealed)| *sealed))
        .bind(key.map(|(_, id)| id))
        .bind(key.map(|(day, _)| i32::try_from(day).unwrap_or(i32::MAX)))
        .execute(&mut *tx)
        .await?;
        for (channel, target) in rule.channels.deliveries(&self.alerts_topic) {
            // Every delivery starts pending. The live one is published by the notifiers' followers
            // (the insert's trigger tells them), which record it delivered once it was sent.
            sqlx::query(
                "INSERT INTO alert_deliveries (alert_id, channel, target, status) VALUES ($1, $2, $3, 'pending')",
            )
            .bind(id)
            .bind(channel)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(alert = %id, rule = %rule.name, person = %best.person_display_name, stream = %detection.stream_id, "alert raised");
        Ok(Outcome::Raised(id))
    }
}

/// What raising a candidate did.
enum Outcome {
    /// Stored, with this id.
    Raised(Uuid),
    /// The rule already alerted on this track.
    Exists,
    /// The rule alerted on this person on this stream within its cooldown.
    Cooldown,
}

/// The alerts `event` may raise: for each rule, the track's best match that the rule applies to
/// (face reports only; the track's best match so far, then this report's matches).
fn candidates<'a>(rules: &'a [AlertRule], event: &'a EnrichedEvent, appended_ms: i64) -> Vec<Candidate<'a>> {
    let Some(detection) = &event.detection else { return Vec::new() };
    if detection.kind != ObjectKind::Face as i32 {
        return Vec::new();
    }
    let matches: Vec<&MatchResult> = event.track_best_match.iter().chain(&event.matches).collect();
    rules
        .iter()
        .filter_map(|rule| {
            let best = matches
                .iter()
                .filter(|m| rule.applies(&detection.stream_id, &detection.site, appended_ms, m))
                .max_by(|a, b| a.similarity.total_cmp(&b.similarity))?;
            Some(Candidate { rule, event, best })
        })
        .collect()
}
