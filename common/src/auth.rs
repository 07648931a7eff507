//! API tokens, shared by every service's REST API (ingest, enrich, query): a bearer token maps to a
//! [`Role`] through the `api_tokens` table, which stores only the token's SHA-256.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// What a token may do; each service decides which roles may call which route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// No `Authorization: Bearer …` header.
    #[error("missing bearer token")]
    Missing,
    /// The token is not known, or revoked.
    #[error("unknown or revoked token")]
    Unknown,
    /// The token table could not be read.
    #[error("reading api tokens: {0}")]
    Database(#[from] sqlx::Error),
}

/// The SHA-256 of a token, as stored.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Stores `token` under `name` with `role`.
pub async fn register(pool: &PgPool, name: &str, token: &str, role: Role) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO api_tokens (name, token_sha256, role) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(digest(token))
        .bind(role.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

/// Creates a new random token (256 bits) under `name` with `role` and returns it: it is shown once
/// and never stored in clear.
pub async fn issue(pool: &PgPool, name: &str, role: Role) -> Result<String, sqlx::Error> {
    let token = format!("sl_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    register(pool, name, &token, role).await?;
    Ok(token)
}

/// Who presents a token: its id and name (for audit records) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    /// The token's id in `api_tokens`.
    pub token_id: uuid::Uuid,
    /// The name it was issued under (a person or a program).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The holder of the bearer token in `authorization` (the header's value).
pub async fn bearer(pool: &PgPool, authorization: Option<&str>) -> Result<Bearer, AuthError> {
    let token = authorization.and_then(|v| v.strip_prefix("Bearer ")).ok_or(AuthError::Missing)?;
    let row: Option<(uuid::Uuid, String, String)> =
        sqlx::query_as("SELECT id, name, role FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL")
            .bind(digest(token))
            .fetch_optional(pool)
            .await?;
    let (token_id, name, role) = row.ok_or(AuthError::Unknown)?;
    Ok(Bearer { token_id, name, role: role.parse().map_err(|_| AuthError::Unknown)? })
}
