//! Alert rules: which matches raise an alert (lists, streams, sites, minimum similarity), how often
//! per person and stream (cooldown), and where the alert goes (channels). Stored in PostgreSQL
//! (`alert_rules`), managed over the REST API, and kept in memory by every notifier: each change is
//! announced on the `sightline_alert_rules` channel and the rules are reloaded at once.

use serde::{Deserialize, Serialize};
use sightline_common::http::Readiness;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sightline_schemas::v1::MatchResult;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row as _};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

use crate::targets::TargetPolicy;

/// PostgreSQL channel announcing rule changes (payload: the rule id).
pub const CHANGES_CHANNEL: &str = "sightline_alert_rules";

/// Where a rule's alerts go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// POST the alert as JSON to a URL, signed with HMAC-SHA256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    /// Mail the alert, with the best shot attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailTarget>,
    /// Publish the alert on the live feed (`GET /v1/alerts/live`).
    #[serde(default)]
    pub live: bool,
    /// Produce the alert to the alerts topic (`sightline.alerts.v1`).
    #[serde(default)]
    pub kafka: bool,
}

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Key of the `X-Sightline-Signature` HMAC-SHA256 (at least 16 bytes). Shown to admins only.
    pub secret: String,
}

/// Mail recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    /// Addresses.
    pub to: Vec<String>,
}

impl Channels {
    /// The channels that have a delivery row per alert, with their target as stored on the row.
    pub fn deliveries(&self, alerts_topic: &str) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = Vec::new();
        if let Some(webhook) = &self.webhook {
            out.push(("webhook", serde_json::json!({ "url": webhook.url, "secret": webhook.secret })));
        }
        if let Some(email) = &self.email {
            out.push(("email", serde_json::json!({ "to": email.to })));
        }
        if self.live {
            out.push(("live", serde_json::json!({})));
        }
        if self.kafka {
            out.push(("kafka", serde_json::json!({ "topic": alerts_topic })));
        }
        out
    }
}

/// A rule as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRule {
    /// Rule id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Watchlists whose matches raise alerts; empty: every list.
    pub list_ids: Vec<Uuid>,
    /// Streams watched; empty: every stream (within `sites`).
    pub stream_ids: Vec<Uuid>,
    /// Sites watched; empty: every site.
    pub sites: Vec<String>,
    /// Lowest similarity that raises an alert (the list's own threshold applies first).
    pub min_similarity: f32,
    /// No second alert of this rule for a person on a stream within this many seconds (capture time).
    pub cooldown_secs: i32,
    /// Where alerts go.
    pub channels: Channels,
    /// Disabled rules raise nothing.
    pub enabled: bool,
    /// When the rule was created, ms since the epoch: it applies to events appended to the topic
    /// from then on, never to older ones read again (a replay, a new consumer group).
    pub created_ms: i64,
}

impl<'r> sqlx::FromRow<'r, PgRow> for AlertRule {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            list_ids: row.try_get("list_ids")?,
            stream_ids: row.try_get("stream_ids")?,
            sites: row.try_get("sites")?,
            min_similarity: row.try_get("min_similarity")?,
            cooldown_secs: row.try_get("cooldown_secs")?,
            channels: row.try_get::<sqlx::types::Json<Channels>, _>("channels")?.0,
            enabled: row.try_get("enabled")?,
            created_ms: row.try_get("created_ms")?,
        })
    }
}

impl AlertRule {
    /// Whether `candidate`, seen on `stream_id` at `site` in an event appended to the topic at
    /// `appended_ms`, is one this rule alerts on.
    pub fn applies(&self, stream_id: &str, site: &str, appended_ms: i64, candidate: &MatchResult) -> bool {
        self.enabled
            && appended_ms >= self.created_ms
            && candidate.similarity >= self.min_similarity
            && (self.list_ids.is_empty() || self.list_ids.iter().any(|id| id.to_string() == candidate.list_id))
            && (self.stream_ids.is_empty() || self.stream_ids.iter().any(|id| id.to_string() == stream_id))
            && (self.sites.is_empty() || self.sites.iter().any(|s| s == site))
    }

    /// The rule with the webhook secret hidden (for every role but admin).
    pub fn masked(mut self) -> Self {
        if let Some(webhook) = &mut self.channels.webhook {
            webhook.secret = MASKED_SECRET.into();
        }
        self
    }
}

/// The webhook secret as every role but admin sees it; sent back in a change, it keeps the stored one.
pub const MASKED_SECRET: &str = "***";

/// A rule as sent to `POST /v1/alert-rules` and `PUT /v1/alert-rules/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Unique name.
    pub name: String,
    /// Watchlists; empty: every list.
    #[serde(default)]
    pub list_ids: Vec<Uuid>,
    /// Streams; empty: every stream.
    #[serde(default)]
    pub stream_ids: Vec<Uuid>,
    /// Sites; empty: every site.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Lowest similarity (default 0: the list's threshold decides).
    #[serde(default)]
    pub min_similarity: f32,
    /// Cooldown per person and stream, seconds (default 300).
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: i32,
    /// Channels; at least one.
    pub channels: Channels,
    /// Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_cooldown() -> i32 {
    300
}

fn default_enabled() -> bool {
    true
}

/// Longest cooldown: a week.
const MAX_COOLDOWN_SECS: i32 = 7 * 86_400;

/// Most watchlists one rule names.
pub const MAX_RULE_LISTS: usize = 100;
/// Most streams one rule names.
pub const MAX_RULE_STREAMS: usize = 1000;
/// Most sites one rule names.
pub const MAX_RULE_SITES: usize = 100;

/// `field` has at most `max` entries.
fn bounded<T>(field: &str, values: &[T], max: usize) -> Result<(), String> {
    if values.len() > max {
        return Err(format!("{field} has {} entries, more than the {max} allowed", values.len()));
    }
    Ok(())
}

impl RuleInput {
    /// Checks what can be checked without the database; the message names the field.
    pub fn validate(&self, policy: &TargetPolicy) -> Result<(), String> {
        sightline_common::api::check_text("name", &self.name, 200)?;
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        bounded("list_ids", &self.list_ids, MAX_RULE_LISTS)?;
        bounded("stream_ids", &self.stream_ids, MAX_RULE_STREAMS)?;
        bounded("sites", &self.sites, MAX_RULE_SITES)?;
        for site in &self.sites {
            sightline_common::api::check_text("sites[]", site, 200)?;
        }
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err(format!("min_similarity {} is outside [-1, 1]", self.min_similarity));
        }
        if !(0..=MAX_COOLDOWN_SECS).contains(&self.cooldown_secs) {
            return Err(format!("cooldown_secs {} is outside [0, {MAX_COOLDOWN_SECS}]", self.cooldown_secs));
        }
        let channels = &self.channels;
        if channels.webhook.is_none() && channels.email.is_none() && !channels.live && !channels.kafka {
            return Err("channels: name at least one of webhook, email, live, kafka".into());
        }
        if let Some(webhook) = &channels.webhook {
            policy.check_url(&webhook.url).map_err(|e| format!("channels.webhook.url: {e}"))?;
            if webhook.secret.len() < 16 || webhook.secret.len() > 256 {
                return Err("channels.webhook.secret must be 16 to 256 bytes".into());
            }
        }
        if let Some(email) = &channels.email {
            if email.to.is_empty() || email.to.len() > 50 {
                return Err("channels.email.to must name 1 to 50 addresses".into());
            }
            for address in &email.to {
                sightline_common::api::check_text("channels.email.to[]", address, 254)?;
                let valid = address.parse::<sightline_common::mail::Address>().is_ok();
                if !valid {
                    return Err(format!("channels.email.to: {address:?} is not an address"));
                }
            }
        }
        Ok(())
    }
}

/// The rules every notifier holds in memory.
pub type SharedRules = Arc<RwLock<Vec<AlertRule>>>;

/// The columns of [`AlertRule`].
const RULE_COLUMNS: &str = "id, name, list_ids, stream_ids, sites, min_similarity, cooldown_secs, channels, enabled, \
                            (extract(epoch FROM created_at) * 1000)::bigint AS created_ms";

/// Every rule, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<AlertRule>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY name")).fetch_all(pool).await
}

/// One rule.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<AlertRule>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1")).bind(id).fetch_optional(pool).await
}

/// Lists and streams of `input` that do not exist, as a 400's message.
pub async fn unknown_references(pool: &PgPool, input: &RuleInput) -> Result<Option<String>, sqlx::Error> {
    let lists: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM watchlists WHERE id = ANY($1)")
        .bind(&input.list_ids)
        .fetch_all(pool)
        .await?;
    if let Some(missing) = input.list_ids.iter().find(|id| !lists.contains(id)) {
        return Ok(Some(format!("list_ids: no watchlist {missing}")));
    }
    let streams: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM streams WHERE id = ANY($1)").bind(&input.stream_ids).fetch_all(pool).await?;
    if let Some(missing) = input.stream_ids.iter().find(|id| !streams.contains(id)) {
        return Ok(Some(format!("stream_ids: no stream {missing}")));
    }
    Ok(None)
}

/// Inserts (`id` None) or replaces a rule; `None` if `id` names no rule.
pub async fn save(pool: &PgPool, id: Option<Uuid>, input: &RuleInput) -> Result<Option<AlertRule>, sqlx::Error> {
    let channels = serde_json::to_value(&input.channels).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let query = match id {
        None => format!(
            "INSERT INTO alert_rules (name, list_ids, stream_ids, sites, min_similarity, cooldown_secs, channels, \
             enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {RULE_COLUMNS}"
        ),
        Some(_) => format!(
            "UPDATE alert_rules SET name = $1, list_ids = $2, stream_ids = $3, sites = $4, min_similarity = $5, \
             cooldown_secs = $6, channels = $7, enabled = $8, updated_at = now() WHERE id = $9 RETURNING {RULE_COLUMNS}"
        ),
    };
    let mut statement = sqlx::query_as(&query)
        .bind(&input.name)
        .bind(&input.list_ids)
        .bind(&input.stream_ids)
        .bind(&input.sites)
        .bind(input.min_similarity)
        .bind(input.cooldown_secs)
        .bind(channels)
        .bind(input.enabled);
    if let Some(id) = id {
        statement = statement.bind(id);
    }
    statement.fetch_optional(pool).await
}

/// Deletes a rule (and its alerts); whether it existed.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(pool).await?.rows_affected() > 0)
}

/// Loads the rules into `rules` now, then again on every change announced on [`CHANGES_CHANNEL`]
/// until `shutdown`. While the rules cannot be loaded, `readiness` is blocked (condition `rules`):
/// the notifier then keeps the rules it had.
pub async fn keep_current(pool: PgPool, rules: SharedRules, readiness: Readiness, mut shutdown: Shutdown) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    'connect: loop {
        let mut listener = match sightline_common::relational::listen(&pool, CHANGES_CHANNEL).await {
            Ok(listener) => listener,
            Err(error) => {
                readiness.block("rules", format!("listening for rule changes: {error}"));
                if !backoff.pause(&mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            // Load after listening, so no change between the load and the listen is missed.
            match list(&pool).await {
                Ok(loaded) => {
                    tracing::info!(rules = loaded.len(), "alert rules loaded");
                    if let Ok(mut held) = rules.write() {
                        *held = loaded;
                    }
                    readiness.clear("rules");
                    backoff.reset();
                }
                Err(error) => {
                    readiness.block("rules", format!("loading alert rules: {error}"));
                    if !backoff.pause(&mut shutdown).await {
                        return;
                    }
                    continue 'connect;
                }
            }
            tokio::select! {
                _ = shutdown.requested() => return,
                notification = listener.recv() => {
                    if let Err(error) = notification {
                        tracing::warn!(%error, "rule change listener lost; reconnecting");
                        continue 'connect;
                    }
                }
            }
        }
    }
}
