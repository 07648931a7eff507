//! Searches by face in the audit log (`search.face` in PostgreSQL's append-only `audit_log`): each
//! search is recorded once it ran and before its answer is sent (who, when, which photo or event, the
//! scope, the outcome and the tracks found), so no answer leaves without its record; a search that
//! failed is recorded too. `GET /v1/audit/face-searches` lists them in the fields it always had.

use serde::Serialize;
use sightline_common::audit::{self, Entry};
use sightline_common::auth::Principal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::params::FaceSearchRequest;

/// The audit log's action of a search by face.
pub const SEARCH_FACE: &str = "search.face";

/// The face a search looked for: the SHA-256 (hex) of an uploaded photo, or an event's face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchedFace {
    /// A photo, by the hex SHA-256 of its bytes.
    Photo(String),
    /// The face of a stored event.
    Event(Uuid),
}

/// Records that `caller` searched for `face` as `request` says, finding `tracks_found` tracks
/// (`None`: the search failed): the record's id.
pub async fn record_search(
    pool: &PgPool,
    caller: &Principal,
    face: &SearchedFace,
    request: &FaceSearchRequest,
    tracks_found: Option<usize>,
) -> Result<i64, sqlx::Error> {
    let (subject, photo_sha256, event_id) = match face {
        SearchedFace::Photo(sha256) => (format!("photo {sha256}"), Some(sha256.clone()), None),
        SearchedFace::Event(id) => (format!("event {id}"), None, Some(*id)),
    };
    let detail = serde_json::json!({
        "photo_sha256": photo_sha256,
        "event_id": event_id,
        "from_ms": request.range.from_ms,
        "to_ms": request.range.to_ms,
        "site": request.site.as_deref().unwrap_or(""),
        "stream_id": request.stream.as_deref().unwrap_or(""),
        "threshold": request.threshold,
        "outcome": if tracks_found.is_some() { "done" } else { "failed" },
    });
    let mut entry = Entry::new(SEARCH_FACE, subject);
    entry.count = tracks_found.and_then(|n| i64::try_from(n).ok());
    entry.detail = detail;
    audit::record(pool, caller, crate::SERVICE, entry).await
}

/// One recorded search, as `GET /v1/audit/face-searches` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchRecord {
    /// Record id.
    pub id: i64,
    /// When, RFC 3339.
    pub searched_at: String,
    /// The caller's token id, or user id when `via` is `session`.
    pub token_id: Uuid,
    /// The name the token was issued under, or the username.
    pub token_name: String,
    /// `token` or `session` (a user logged in to the web app).
    pub via: String,
    /// Its role.
    pub role: String,
    /// SHA-256 (hex) of the photo searched for.
    pub photo_sha256: Option<String>,
    /// Or the event whose face was searched for.
    pub event_id: Option<Uuid>,
    /// Range searched, ms since the epoch.
    pub from_ms: i64,
    /// End of the range (exclusive).
    pub to_ms: i64,
    /// Site searched ('' for all).
    pub site: String,
    /// Stream searched ('' for all).
    pub stream_id: String,
    /// Lowest similarity asked for.
    pub threshold: f32,
    /// `done` or `failed` (`started`: recorded before the search ran, by an older version).
    pub outcome: String,
    /// Tracks returned.
    pub tracks_found: Option<i32>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for SearchRecord {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        let detail: serde_json::Value = row.try_get("detail")?;
        let text = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
        let number = |key: &str| detail[key].as_i64().unwrap_or_default();
        let count: Option<i64> = row.try_get("count")?;
        Ok(Self {
            id: row.try_get("id")?,
            searched_at: row.try_get("searched_at")?,
            token_id: row.try_get("principal_id")?,
            token_name: row.try_get("principal_name")?,
            via: row.try_get("via")?,
            role: row.try_get("role")?,
            photo_sha256: detail["photo_sha256"].as_str().map(str::to_owned),
            event_id: detail["event_id"].as_str().and_then(|id| Uuid::parse_str(id).ok()),
            from_ms: number("from_ms"),
            to_ms: number("to_ms"),
            site: text("site"),
            stream_id: text("stream_id"),
            threshold: detail["threshold"].as_f64().unwrap_or_default() as f32,
            outcome: text("outcome"),
            tracks_found: count.and_then(|n| i32::try_from(n).ok()),
        })
    }
}

/// The searches recorded in `[from_ms, to_ms)`, newest first, at most `limit`.
pub async fn searches(pool: &PgPool, from_ms: i64, to_ms: i64, limit: u32) -> Result<Vec<SearchRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS searched_at, \
         principal_id, principal_name, via, role, count, detail FROM audit_log \
         WHERE action = $4 AND at >= to_timestamp($1::float8 / 1000) AND at < to_timestamp($2::float8 / 1000) \
         ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(from_ms)
    .bind(to_ms)
    .bind(i64::from(limit))
    .bind(SEARCH_FACE)
    .fetch_all(pool)
    .await
}
