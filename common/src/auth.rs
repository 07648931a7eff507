//! API tokens, shared by every service's REST API (ingest, enrich, query): a bearer token maps to a
//! [`Role`] through the `api_tokens` table, which stores only the token's SHA-256.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// What a token may do; each service decides which roles may call which route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including tokens and deployment settings.
    Admin,
    /// Manages streams and watchlists.
    Operator,
    /// Queries events and exports reports.
    Analyst,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The role's name as stored in `api_tokens.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// Whether the role may change configuration (streams, watchlists).
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Whether the role may see what identifies people: single events with their best-shot faces
    /// and watchlist matches (viewers see aggregates only).
    pub fn can_see_people(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?} (admin, operator, analyst or viewer)")),
        }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization: Bearer …` header nor a session cookie.
    #[error("missing bearer token or session")]
    Missing,
    /// The token is not known, or revoked.
    #[error("unknown or revoked token")]
    Unknown,
    /// The token was valid until it expired.
    #[error("token expired")]
    Expired,
    /// The session cookie names no live session (logged out, expired, or its user disabled).
    #[error("session ended; log in again")]
    SessionEnded,
    /// The token table could not be read.
    #[error("reading api tokens: {0}")]
    Database(#[from] sqlx::Error),
}

/// The SHA-256 of a token (or a session's secret), as stored.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new random secret: `prefix` then 244 random bits (two UUIDv4) in hex.
pub fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Stores `token` under `name` with `role`, without expiry: its id.
pub async fn register(pool: &PgPool, name: &str, token: &str, role: Role) -> Result<uuid::Uuid, sqlx::Error> {
    store(pool, name, token, role, None).await
}

/// Stores `token` under `name` with `role`, valid until `expires_ms` (Unix ms; `None`: no expiry).
async fn store(
    pool: &PgPool,
    name: &str,
    token: &str,
    role: Role,
    expires_ms: Option<i64>,
) -> Result<uuid::Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (name, token_sha256, role, expires_at) \
         VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0)) RETURNING id",
    )
    .bind(name)
    .bind(digest(token))
    .bind(role.as_str())
    .bind(expires_ms)
    .fetch_one(pool)
    .await
}

/// A token just issued: shown once, then only its hash is kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedToken {
    /// Its id (for listing and revoking).
    pub id: uuid::Uuid,
    /// The secret itself.
    pub token: String,
}

/// Creates a new random token under `name` with `role`, valid until `expires_ms` (Unix ms).
pub async fn issue(pool: &PgPool, name: &str, role: Role, expires_ms: Option<i64>) -> Result<IssuedToken, sqlx::Error> {
    let token = random_secret("sl_");
    let id = store(pool, name, &token, role, expires_ms).await?;
    Ok(IssuedToken { id, token })
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Its id.
    pub id: uuid::Uuid,
    /// Who or what it was issued for.
    pub name: String,
    /// Its role.
    #[schema(value_type = Role)]
    pub role: String,
    /// When it was issued (Unix ms).
    pub created_ms: i64,
    /// When it expires (Unix ms), if ever.
    pub expires_ms: Option<i64>,
    /// When it was revoked (Unix ms), if it was.
    pub revoked_ms: Option<i64>,
    /// `active`, `expired` or `revoked`.
    #[schema(pattern = "^(active|expired|revoked)$")]
    pub state: String,
}

/// Every token, newest first.
pub async fn list_tokens(pool: &PgPool) -> Result<Vec<TokenInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, role, (extract(epoch from created_at) * 1000)::bigint AS created_ms, \
         (extract(epoch from expires_at) * 1000)::bigint AS expires_ms, \
         (extract(epoch from revoked_at) * 1000)::bigint AS revoked_ms, \
         CASE WHEN revoked_at IS NOT NULL THEN 'revoked' \
              WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END AS state \
         FROM api_tokens ORDER BY created_at DESC, id",
    )
    .fetch_all(pool)
    .await
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for TokenInfo {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            created_ms: row.try_get("created_ms")?,
            expires_ms: row.try_get("expires_ms")?,
            revoked_ms: row.try_get("revoked_ms")?,
            state: row.try_get("state")?,
        })
    }
}

/// Revokes the token `id`; false if there is no such token. Revoking twice keeps the first time.
pub async fn revoke(pool: &PgPool, id: uuid::Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A bearer token (programs, scripts).
    Token,
    /// A browser session (a user who logged in with a password).
    Session,
    /// A service acting on its own schedule (a retention run).
    Service,
}

impl Via {
    /// The name stored in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Token => "token",
            Via::Session => "session",
            Via::Service => "service",
        }
    }
}

/// Who makes a request: a token or a logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id in `api_tokens`, or the user's id in `users`.
    pub id: uuid::Uuid,
    /// The token's name or the username (for audit records).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Token or session.
    pub via: Via,
}

impl Principal {
    /// A service acting on its own schedule (a retention run, a scheduled report): no account, the
    /// service's `name` in audit records.
    pub fn service(name: &str) -> Self {
        Self { id: uuid::Uuid::nil(), name: name.to_owned(), role: Role::Admin, via: Via::Service }
    }
}

/// The holder of the bearer token in `authorization` (the header's value).
pub async fn bearer(pool: &PgPool, authorization: Option<&str>) -> Result<Principal, AuthError> {
    let token = authorization.and_then(|v| v.strip_prefix("Bearer ")).ok_or(AuthError::Missing)?;
    let row: Option<(uuid::Uuid, String, String, bool)> = sqlx::query_as(
        "SELECT id, name, role, (expires_at IS NOT NULL AND expires_at <= now()) AS expired \
         FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await?;
    let (id, name, role, expired) = row.ok_or(AuthError::Unknown)?;
    if expired {
        return Err(AuthError::Expired);
    }
    Ok(Principal { id, name, role: role.parse().map_err(|_| AuthError::Unknown)?, via: Via::Token })
}

/// Stores a new single-use ticket for `credential_id`, issued `via`, valid for `valid_seconds`: the
/// secret and when it expires (Unix ms). Expired tickets are dropped here.
async fn new_ticket(
    pool: &PgPool,
    via: &str,
    credential_id: uuid::Uuid,
    valid_seconds: u32,
) -> Result<(String, i64), sqlx::Error> {
    sqlx::query("DELETE FROM url_tickets WHERE expires_at <= now()").execute(pool).await?;
    let ticket = random_secret("tk_");
    let expires_ms: i64 = sqlx::query_scalar(
        "INSERT INTO url_tickets (ticket_sha256, via, credential_id, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4::integer)) \
         RETURNING (extract(epoch from expires_at) * 1000)::bigint",
    )
    .bind(digest(&ticket))
    .bind(via)
    .bind(credential_id)
    .bind(i32::try_from(valid_seconds).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await?;
    Ok((ticket, expires_ms))
}

/// A single-use ticket with which one service instance asks another for `resource` (a stream's
/// frame, ...), valid for `valid_seconds`: its own credential for that one call, never its caller's.
pub async fn service_ticket(pool: &PgPool, resource: uuid::Uuid, valid_seconds: u32) -> Result<String, sqlx::Error> {
    Ok(new_ticket(pool, "service", resource, valid_seconds).await?.0)
}

/// The header in which one service shows another its [`service_ticket`] for a resource (an ingest
/// instance asking the owner of a stream for its frame, the notifier asking for an alert's scene).
pub const PEER_TICKET_HEADER: &str = "x-sightline-peer-ticket";

/// Whether `ticket` is a live [`service_ticket`] for `resource`, using it up.
pub async fn redeem_service_ticket(pool: &PgPool, ticket: &str, resource: uuid::Uuid) -> Result<bool, sqlx::Error> {
    let used = sqlx::query(
        "DELETE FROM url_tickets WHERE ticket_sha256 = $1 AND via = 'service' AND credential_id = $2 \
         AND expires_at > now()",
    )
    .bind(digest(ticket))
    .bind(resource)
    .execute(pool)
    .await?;
    Ok(used.rows_affected() == 1)
}

/// The credential a request was authorised with: a bearer token (by its id) or a browser session
/// (by its id), so that whatever stays open on it (a live feed) can check it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// Token or session.
    pub via: Via,
    /// The token's id in `api_tokens`, or the session's id in `sessions`.
    pub id: uuid::Uuid,
}

impl Credential {
    /// The holder of this credential if it is still valid: the token neither revoked nor expired,
    /// or the session neither ended nor expired (idle or absolute) and its user not disabled, with
    /// the role it has now. Unlike a request, this does not move a session's idle deadline.
    pub async fn holder(&self, pool: &PgPool) -> Result<Option<Principal>, sqlx::Error> {
        let sql = match self.via {
            Via::Token => {
                "SELECT id, name, role FROM api_tokens WHERE id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > now())"
            }
            Via::Session => {
                "SELECT u.id, u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id = $1 AND s.ended_at IS NULL AND u.disabled_at IS NULL \
                   AND s.idle_expires_at > now() AND s.expires_at > now()"
            }
            // A service's own schedule holds no credential a request could present.
            Via::Service => return Ok(None),
        };
        let row: Option<(uuid::Uuid, String, String)> = sqlx::query_as(sql).bind(self.id).fetch_optional(pool).await?;
        Ok(row.and_then(|(id, name, role)| Some(Principal { id, name, role: role.parse().ok()?, via: self.via })))
    }

    /// A new single-use ticket for this credential, valid for `valid_seconds`: the secret to put in
    /// a URL and when it expires (Unix ms).
    pub async fn ticket(&self, pool: &PgPool, valid_seconds: u32) -> Result<(String, i64), sqlx::Error> {
        new_ticket(pool, self.via.as_str(), self.id, valid_seconds).await
    }

    /// The credential `ticket` was issued to, using the ticket up: a ticket that is unknown, used
    /// or expired is `None`. Whether the credential is still valid is for [`Credential::holder`].
    pub async fn redeem(pool: &PgPool, ticket: &str) -> Result<Option<Credential>, sqlx::Error> {
        let row: Option<(String, uuid::Uuid)> = sqlx::query_as(
            "DELETE FROM url_tickets WHERE ticket_sha256 = $1 AND via IN ('token', 'session') AND expires_at > now() \
             RETURNING via, credential_id",
        )
        .bind(digest(ticket))
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|(via, id)| Credential { via: if via == "session" { Via::Session } else { Via::Token }, id }))
    }
}
