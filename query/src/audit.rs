//! The audit trail of searches by face (`face_search_audit` in PostgreSQL): each search is recorded
//! before it runs (who, when, which photo or event, the scope), and its outcome after. A search whose
//! record cannot be written does not run.

use serde::Serialize;
use sightline_common::auth::Principal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::params::FaceSearchRequest;

/// The face a search looked for: the SHA-256 (hex) of an uploaded photo, or an event's face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchedFace {
    /// A photo, by the hex SHA-256 of its bytes.
    Photo(String),
    /// The face of a stored event.
    Event(Uuid),
}

/// Records that `caller` is about to search for `face` as `request` says: the record's id.
pub async fn record_search(
    pool: &PgPool,
    caller: &Principal,
    face: &SearchedFace,
    request: &FaceSearchRequest,
) -> Result<i64, sqlx::Error> {
    let (photo_sha256, event_id) = match face {
        SearchedFace::Photo(sha256) => (Some(sha256.as_str()), None),
        SearchedFace::Event(id) => (None, Some(*id)),
    };
    sqlx::query_scalar(
        "INSERT INTO face_search_audit (token_id, token_name, role, photo_sha256, event_id, from_ms, to_ms, site, \
         stream_id, threshold, via) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(caller.id)
    .bind(&caller.name)
    .bind(caller.role.as_str())
    .bind(photo_sha256)
    .bind(event_id)
    .bind(request.range.from_ms)
    .bind(request.range.to_ms)
    .bind(request.site.as_deref().unwrap_or(""))
    .bind(request.stream.as_deref().unwrap_or(""))
    .bind(request.threshold)
    .bind(caller.via.as_str())
    .fetch_one(pool)
    .await
}

/// Records how search `id` ended: the tracks it returned, or `None` when it failed.
pub async fn record_outcome(pool: &PgPool, id: i64, tracks_found: Option<usize>) -> Result<(), sqlx::Error> {
    let outcome = if tracks_found.is_some() { "done" } else { "failed" };
    let found = tracks_found.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    sqlx::query("UPDATE face_search_audit SET outcome = $2, tracks_found = $3 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .bind(found)
        .execute(pool)
        .await?;
    Ok(())
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
    /// `started`, `done` or `failed`.
    pub outcome: String,
    /// Tracks returned.
    pub tracks_found: Option<i32>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for SearchRecord {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            searched_at: row.try_get("searched_at")?,
            token_id: row.try_get("token_id")?,
            token_name: row.try_get("token_name")?,
            via: row.try_get("via")?,
            role: row.try_get("role")?,
            photo_sha256: row.try_get("photo_sha256")?,
            event_id: row.try_get("event_id")?,
            from_ms: row.try_get("from_ms")?,
            to_ms: row.try_get("to_ms")?,
            site: row.try_get("site")?,
            stream_id: row.try_get("stream_id")?,
            threshold: row.try_get("threshold")?,
            outcome: row.try_get("outcome")?,
            tracks_found: row.try_get("tracks_found")?,
        })
    }
}

/// The searches recorded in `[from_ms, to_ms)`, newest first, at most `limit`.
pub async fn searches(pool: &PgPool, from_ms: i64, to_ms: i64, limit: u32) -> Result<Vec<SearchRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, to_char(searched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS searched_at, \
         token_id, token_name, via, role, photo_sha256, event_id, from_ms, to_ms, site, stream_id, threshold, outcome, \
         tracks_found FROM face_search_audit \
         WHERE searched_at >= to_timestamp($1::float8 / 1000) AND searched_at < to_timestamp($2::float8 / 1000) \
         ORDER BY searched_at DESC, id DESC LIMIT $3",
    )
    .bind(from_ms)
    .bind(to_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}
