//! The audit log (`audit_log` in PostgreSQL, append-only): one [`record`] per look at or change of
//! biometric data, written before the answer is given, so an action whose record cannot be written
//! is not done (docs/privacy.md, section 4).

use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::auth::Principal;

/// One audited action.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What was done (`export.csv`, `watchlist.person.enrol`, ...).
    pub action: &'static str,
    /// What it was done to or with (an id, an export's filters).
    pub subject: String,
    /// How many items, when it counts some.
    pub count: Option<i64>,
    /// Anything else worth keeping (never a face, a descriptor or a name).
    pub detail: serde_json::Value,
}

impl Entry {
    /// `action` on `subject`, counting nothing, with no detail.
    pub fn new(action: &'static str, subject: impl Into<String>) -> Self {
        Self { action, subject: subject.into(), count: None, detail: serde_json::json!({}) }
    }

    /// The same, counting `count` items.
    pub fn counting(mut self, count: impl TryInto<i64>) -> Self {
        self.count = count.try_into().ok();
        self
    }
}

/// Records `entry`, done by `principal` through `service`; its id.
pub async fn record(pool: &PgPool, principal: &Principal, service: &str, entry: Entry) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO audit_log (principal_id, principal_name, role, via, service, action, subject, count, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(principal.id)
    .bind(&principal.name)
    .bind(principal.role.as_str())
    .bind(principal.via.as_str())
    .bind(service)
    .bind(entry.action)
    .bind(&entry.subject)
    .bind(entry.count)
    .bind(&entry.detail)
    .fetch_one(pool)
    .await
}

/// How long one viewer's looks at one image count as one look: the browser keeps an image it loaded
/// (`Cache-Control: private`), and a screen asks again for the images it shows when it is redrawn.
pub const VIEW_WINDOW: Duration = Duration::from_secs(600);

/// Most (viewer, image) pairs remembered; past it, pairs older than [`VIEW_WINDOW`] are forgotten.
const VIEWS_REMEMBERED: usize = 20_000;

type ViewKey = (uuid::Uuid, &'static str, String);

/// The looks recorded in this process in the last [`VIEW_WINDOW`].
fn recent_views() -> &'static Mutex<HashMap<ViewKey, Instant>> {
    static VIEWS: OnceLock<Mutex<HashMap<ViewKey, Instant>>> = OnceLock::new();
    VIEWS.get_or_init(Default::default)
}

/// Records that `principal` is shown a face image (`action`, e.g. `image.best_shot`; `subject`, the
/// image's id) through `service`, before it is served: once per viewer and image in
/// [`VIEW_WINDOW`]. An image whose look cannot be recorded is not served (the error).
pub async fn record_view(
    pool: &PgPool,
    principal: &Principal,
    service: &str,
    action: &'static str,
    subject: String,
) -> Result<(), sqlx::Error> {
    let key = (principal.id, action, subject);
    let now = Instant::now();
    let seen = |views: &HashMap<ViewKey, Instant>| views.get(&key).is_some_and(|at| now - *at < VIEW_WINDOW);
    if recent_views().lock().map(|views| seen(&views)).unwrap_or(false) {
        return Ok(());
    }
    record(pool, principal, service, Entry::new(action, key.2.clone()).counting(1)).await?;
    if let Ok(mut views) = recent_views().lock() {
        if views.len() >= VIEWS_REMEMBERED {
            views.retain(|_, at| now - *at < VIEW_WINDOW);
        }
        if views.len() < VIEWS_REMEMBERED {
            views.insert(key, now);
        }
    }
    Ok(())
}

/// An audit record as admins read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Its number, increasing.
    pub id: i64,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Who: a username or a token's name.
    pub who: String,
    /// Their role then.
    pub role: String,
    /// `token` or `session`.
    pub via: String,
    /// The service that recorded it.
    pub service: String,
    /// What was done.
    pub action: String,
    /// What it was done to or with.
    pub subject: String,
    /// How many items.
    pub count: Option<i64>,
    /// Anything else recorded.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for AuditRecord {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            id: row.try_get("id")?,
            at_ms: row.try_get("at_ms")?,
            who: row.try_get("who")?,
            role: row.try_get("role")?,
            via: row.try_get("via")?,
            service: row.try_get("service")?,
            action: row.try_get("action")?,
            subject: row.try_get("subject")?,
            count: row.try_get("count")?,
            detail: row.try_get("detail")?,
        })
    }
}

/// Records from `from_ms` to `to_ms` (ms since the epoch), newest first, of `action` (a prefix:
/// `export` matches `export.csv` and `export.pdf`) and `who` if given, at most `limit`.
pub async fn records(
    pool: &PgPool,
    from_ms: i64,
    to_ms: i64,
    action: Option<&str>,
    who: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, principal_name AS who, role, via, service, \
         action, subject, count, detail FROM audit_log \
         WHERE at >= to_timestamp($1::double precision / 1000) AND at < to_timestamp($2::double precision / 1000) \
         AND ($3::text IS NULL OR action = $3 OR action LIKE $3 || '.%') AND ($4::text IS NULL OR principal_name = $4) \
         ORDER BY id DESC LIMIT $5",
    )
    .bind(from_ms)
    .bind(to_ms)
    .bind(action)
    .bind(who)
    .bind(limit)
    .fetch_all(pool)
    .await
}
