//! An alert as stored, and as every channel and the API present it.

use serde::Serialize;
use sightline_schemas::v1::{AlertEvent, MatchResult, SCHEMA_VERSION};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row as _};
use utoipa::ToSchema;
use uuid::Uuid;

/// An alert: who was seen where, and which rule raised it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    /// UUID v5 of (rule, stream, track).
    pub id: Uuid,
    /// The rule.
    pub rule_id: Uuid,
    /// Its name.
    pub rule_name: String,
    /// The stream.
    pub stream_id: String,
    /// Its site.
    pub site: String,
    /// The track.
    pub track_id: String,
    /// The enriched event that raised it.
    pub event_id: String,
    /// The watchlist.
    pub list_id: Uuid,
    /// Its name.
    pub list_name: String,
    /// The person.
    pub person_id: Uuid,
    /// Their id in the system of record.
    pub person_external_id: String,
    /// Their name.
    pub person_display_name: String,
    /// Similarity of the match.
    pub similarity: f32,
    /// When the track was first seen, ms since the epoch.
    pub first_seen_ms: i64,
    /// When the raising report was captured, ms since the epoch.
    pub capture_time_ms: i64,
    /// When it was raised, ms since the epoch.
    pub raised_ms: i64,
    /// Whether the raising report carried a best shot (`GET /v1/alerts/{id}/best-shot`).
    pub has_best_shot: bool,
    /// What the desk did about it.
    #[serde(flatten)]
    pub handling: Handling,
    /// The template key of the event that raised it (day, id), which seals its match on the alerts
    /// topic; `None` for an alert raised from an event in clear.
    #[serde(skip)]
    #[schema(ignore)]
    pub key: Option<(u32, Uuid)>,
}

/// Where an alert stands on the desk: `new` until someone acknowledges it, then `acknowledged`, then
/// `resolved` (with a note); who moved it there, when, and their note.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Handling {
    /// `new`, `acknowledged` or `resolved`.
    pub state: String,
    /// Who moved it to its state (a username or a token's name); empty while new.
    pub handled_by: String,
    /// When, ms since the epoch; null while new.
    pub handled_ms: Option<i64>,
    /// Their note.
    pub note: String,
}

/// An alert as webhooks receive it (signed) and the live feed sends it (`event: alert`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertDocument {
    /// The alert's id.
    pub alert_id: Uuid,
    /// The rule that raised it.
    pub rule: Named,
    /// Who was seen.
    pub person: AlertPerson,
    /// The watchlist they are on.
    pub list: Named,
    /// Similarity of the match.
    pub similarity: f32,
    /// The stream.
    pub stream_id: String,
    /// Its site.
    pub site: String,
    /// The track.
    pub track_id: String,
    /// The enriched event that raised it.
    pub event_id: String,
    /// When the track was first seen, ms since the epoch.
    pub first_seen_ms: i64,
    /// When the raising report was captured, ms since the epoch.
    pub capture_time_ms: i64,
    /// When it was raised, ms since the epoch.
    pub raised_ms: i64,
    /// The best shot on the query API.
    pub best_shot_url: String,
    /// Whether there is a best shot.
    pub has_best_shot: bool,
}

impl std::fmt::Display for AlertDocument {
    /// The document as JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

/// A rule or a watchlist: id and name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Named {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

/// The person an alert is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertPerson {
    /// Their id on the watchlist.
    pub id: Uuid,
    /// Their id in the system of record.
    pub external_id: String,
    /// Their name.
    pub display_name: String,
}

/// The columns of [`Alert`] from `alerts a JOIN alert_rules r`.
pub const ALERT_COLUMNS: &str = "a.id, a.rule_id, r.name AS rule_name, a.stream_id, a.site, a.track_id, a.event_id, \
     a.list_id, a.list_name, a.person_id, a.person_external_id, a.person_display_name, a.similarity, \
     a.first_seen_ms, a.capture_time_ms, (extract(epoch FROM a.raised_at) * 1000)::bigint AS raised_ms, \
     (a.best_shot_jpeg IS NOT NULL OR a.best_shot_key IS NOT NULL) AS has_best_shot, a.state, a.handled_by, \
     (extract(epoch FROM a.handled_at) * 1000)::bigint AS handled_ms, a.note, a.key_id, a.key_day";

impl<'r> sqlx::FromRow<'r, PgRow> for Alert {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            rule_id: row.try_get("rule_id")?,
            rule_name: row.try_get("rule_name")?,
            stream_id: row.try_get("stream_id")?,
            site: row.try_get("site")?,
            track_id: row.try_get("track_id")?,
            event_id: row.try_get("event_id")?,
            list_id: row.try_get("list_id")?,
            list_name: row.try_get("list_name")?,
            person_id: row.try_get("person_id")?,
            person_external_id: row.try_get("person_external_id")?,
            person_display_name: row.try_get("person_display_name")?,
            similarity: row.try_get("similarity")?,
            first_seen_ms: row.try_get("first_seen_ms")?,
            capture_time_ms: row.try_get("capture_time_ms")?,
            raised_ms: row.try_get("raised_ms")?,
            has_best_shot: row.try_get("has_best_shot")?,
            handling: Handling {
                state: row.try_get("state")?,
                handled_by: row.try_get("handled_by")?,
                handled_ms: row.try_get("handled_ms")?,
                note: row.try_get("note")?,
            },
            key: match (row.try_get::<Option<i32>, _>("key_day")?, row.try_get::<Option<Uuid>, _>("key_id")?) {
                (Some(day), Some(id)) => Some((u32::try_from(day).unwrap_or(0), id)),
                _ => None,
            },
        })
    }
}

impl Alert {
    /// Loads one alert.
    pub async fn load(pool: &PgPool, id: Uuid) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await
    }

    /// The URL of the best shot on the query API.
    pub fn best_shot_url(&self, base_url: &str) -> String {
        format!("{}/v1/events/{}/best-shot", base_url.trim_end_matches('/'), self.event_id)
    }

    /// The JSON document webhooks receive and the live feed sends.
    pub fn document(&self, best_shot_base_url: &str) -> AlertDocument {
        AlertDocument {
            alert_id: self.id,
            rule: Named { id: self.rule_id, name: self.rule_name.clone() },
            person: AlertPerson {
                id: self.person_id,
                external_id: self.person_external_id.clone(),
                display_name: self.person_display_name.clone(),
            },
            list: Named { id: self.list_id, name: self.list_name.clone() },
            similarity: self.similarity,
            stream_id: self.stream_id.clone(),
            site: self.site.clone(),
            track_id: self.track_id.clone(),
            event_id: self.event_id.clone(),
            first_seen_ms: self.first_seen_ms,
            capture_time_ms: self.capture_time_ms,
            raised_ms: self.raised_ms,
            best_shot_url: self.best_shot_url(best_shot_base_url),
            has_best_shot: self.has_best_shot,
        }
    }

    /// The alert as the `sightline.alerts.v1` contract carries it.
    pub fn event(&self) -> AlertEvent {
        AlertEvent {
            schema_version: SCHEMA_VERSION,
            alert_id: self.id.to_string(),
            rule_id: self.rule_id.to_string(),
            rule_name: self.rule_name.clone(),
            stream_id: self.stream_id.clone(),
            site: self.site.clone(),
            track_id: self.track_id.clone(),
            event_id: self.event_id.clone(),
            r#match: Some(MatchResult {
                list_id: self.list_id.to_string(),
                list_name: self.list_name.clone(),
                person_id: self.person_id.to_string(),
                person_external_id: self.person_external_id.clone(),
                person_display_name: self.person_display_name.clone(),
                similarity: self.similarity,
                rank: 1,
                threshold: 0.0,
            }),
            first_seen_ms: self.first_seen_ms,
            capture_time_ms: self.capture_time_ms,
            raised_time_ms: self.raised_ms,
            sealed: None,
        }
    }
}
