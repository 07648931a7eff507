//! People's accounts (`schemas/postgres/0008_accounts.sql`): users with argon2id password hashes,
//! browser sessions (the cookie carries a random secret whose SHA-256 is stored, and a CSRF token
//! goes with it), and the throttling of failed logins. Programs keep using bearer tokens
//! ([`crate::auth`]); both end up as a [`Principal`] with a [`Role`].
//!
//! The routes over these (login, logout, users, tokens) are [`crate::accounts_api`].

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::time::Duration;

use crate::api::check_text;
use crate::auth::{self, AuthError, Principal, Role, Via};
use crate::passwords::{self, PasswordError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sightline_session";

/// The header that carries a session's CSRF token on requests that change something.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Settings of sessions and login throttling (the `[accounts]` table of the service that serves the
/// login routes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after login, however active.
    pub session_max_hours: u32,
    /// Whether the session cookie is `Secure` (sent over HTTPS only; browsers also send it to
    /// `http://localhost`). Off only behind a plain-HTTP proxy on another host name, never in
    /// production.
    pub secure_cookie: bool,
    /// Failed logins for one username within the window after which its logins are refused (429).
    pub max_failures_per_user: u32,
    /// Failed logins from one client address (the proxy's `X-Real-IP`) within the window after which
    /// its logins are refused.
    pub max_failures_per_client: u32,
    /// The window failed logins are counted over, in minutes.
    pub failure_window_minutes: u32,
    /// How long a login waits for a password thread (one per core) before it is refused with 503,
    /// in milliseconds: a flood of logins queues here instead of taking memory.
    pub password_wait_ms: u32,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_max_hours: 12,
            secure_cookie: true,
            max_failures_per_user: 5,
            max_failures_per_client: 20,
            failure_window_minutes: 15,
            password_wait_ms: 2000,
        }
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request's content is not acceptable (a 400 naming the field).
    #[error("{0}")]
    Invalid(String),
    /// The username is taken.
    #[error("username {0:?} is taken")]
    Taken(String),
    /// No such user.
    #[error("no user {0}")]
    NoSuchUser(uuid::Uuid),
    /// Wrong username or password, or a disabled user (one message for all three).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many failed logins recently.
    #[error("too many failed logins {0}; try again in {1} minutes")]
    Throttled(&'static str, u32),
    /// Every password thread stayed busy for the whole wait (a 503).
    #[error("too many logins at once; try again in a moment")]
    Busy,
    /// Hashing failed (it does not, with valid parameters).
    #[error("password hashing: {0}")]
    Hash(String),
    /// The database failed.
    #[error("accounts database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<PasswordError> for AccountError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => AccountError::Busy,
            PasswordError::Hash(message) => AccountError::Hash(message),
        }
    }
}

/// How long an administrator's change of a password waits for a password thread.
const ADMIN_PASSWORD_WAIT: Duration = Duration::from_secs(10);

fn check_username(username: &str) -> Result<(), AccountError> {
    check_text("username", username, 64).map_err(AccountError::Invalid)?;
    if username.is_empty() || username.trim() != username || username.contains(char::is_whitespace) {
        return Err(AccountError::Invalid("username must be 1 to 64 characters without spaces".into()));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!("password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > 1024 {
        return Err(AccountError::Invalid("password is longer than 1024 bytes".into()));
    }
    Ok(())
}

async fn hash_off_thread(password: String) -> Result<String, AccountError> {
    Ok(passwords::hash(password, ADMIN_PASSWORD_WAIT).await?)
}

/// A user as listed (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user's id.
    pub id: uuid::Uuid,
    /// Login name.
    pub username: String,
    /// Role.
    #[schema(value_type = crate::auth::Role)]
    pub role: String,
    /// When the account was made (Unix ms).
    pub created_ms: i64,
    /// Whether it may log in.
    pub disabled: bool,
    /// Sessions open now.
    pub active_sessions: i64,
}

/// Creates a user; the password is stored as an argon2id hash.
pub async fn create_user(
    pool: &PgPool,
    username: &str,
    password: &str,
    role: Role,
) -> Result<uuid::Uuid, AccountError> {
    check_username(username)?;
    check_password(password)?;
    let hash = hash_off_thread(password.to_owned()).await?;
    let inserted: Option<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO users (username, password_argon2, role) VALUES ($1, $2, $3) \
         ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .fetch_optional(pool)
    .await?;
    inserted.ok_or_else(|| AccountError::Taken(username.to_owned()))
}

/// Every user, by username.
pub async fn list_users(pool: &PgPool) -> Result<Vec<UserInfo>, AccountError> {
    let rows: Vec<(uuid::Uuid, String, String, i64, bool, i64)> = sqlx::query_as(
        "SELECT u.id, u.username, u.role, (extract(epoch from u.created_at) * 1000)::bigint AS created_ms, \
         u.disabled_at IS NOT NULL AS disabled, \
         (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.ended_at IS NULL \
            AND s.idle_expires_at > now() AND s.expires_at > now()) AS active_sessions \
         FROM users u ORDER BY u.username",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, username, role, created_ms, disabled, active_sessions)| UserInfo {
            id,
            username,
            role,
            created_ms,
            disabled,
            active_sessions,
        })
        .collect())
}

/// A change to a user; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// New password (ends the user's sessions).
    pub password: Option<String>,
    /// Disable (ends the user's sessions) or enable.
    pub disabled: Option<bool>,
}

/// Applies `change` to user `id`. A new password or disabling ends every session of the user.
pub async fn update_user(pool: &PgPool, id: uuid::Uuid, change: UserChange) -> Result<(), AccountError> {
    let hash = match &change.password {
        Some(password) => {
            check_password(password)?;
            Some(hash_off_thread(password.clone()).await?)
        }
        None => None,
    };
    let mut tx = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE users SET role = coalesce($2, role), password_argon2 = coalesce($3, password_argon2), \
         disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at \
                            WHEN $4 THEN coalesce(disabled_at, now()) ELSE NULL END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(change.role.map(Role::as_str))
    .bind(hash.as_deref())
    .bind(change.disabled)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AccountError::NoSuchUser(id));
    }
    if hash.is_some() || change.disabled == Some(true) {
        sqlx::query("UPDATE sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A session just opened: the cookie's secret and what the browser needs.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's value (only its hash is stored).
    pub secret: String,
    /// The CSRF token to send back in [`CSRF_HEADER`].
    pub csrf_token: String,
    /// Who logged in.
    pub principal: Principal,
    /// When the session ends at the latest (Unix ms).
    pub expires_ms: i64,
}

/// A hash that never matches, verified when the username is unknown so that a wrong username takes
/// as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| passwords::hash_password("decoy password, never valid").unwrap_or_default())
}

/// Checks `username`'s password and opens a session. `client` is the client's address as the proxy
/// saw it (`None` when there is no proxy header: then only the per-username limit applies).
///
/// Each attempt is recorded as a failure before its password is checked ([`record_attempt`]):
/// however many arrive at once, at most `max_failures_per_user` of them are checked, the rest are
/// [`AccountError::Throttled`] and leave no record. A success clears the username's failures. The
/// password is checked on a password thread ([`passwords`]); when none frees up within
/// `password_wait_ms` the attempt is [`AccountError::Busy`] and leaves no record either.
pub async fn login(
    pool: &PgPool,
    settings: &AccountSettings,
    username: &str,
    password: &str,
    client: Option<&str>,
) -> Result<NewSession, AccountError> {
    check_text("username", username, 64).map_err(AccountError::Invalid)?;
    if password.len() > 1024 {
        return Err(AccountError::Invalid("password is longer than 1024 bytes".into()));
    }
    let minutes = i32::try_from(settings.failure_window_minutes).unwrap_or(i32::MAX);
    let attempt = record_attempt(pool, settings, username, client).await?;
    let row: Option<(uuid::Uuid, String, String, bool)> =
        sqlx::query_as("SELECT id, password_argon2, role, disabled_at IS NOT NULL FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    let hash = row.as_ref().map_or_else(|| decoy_hash().to_owned(), |(_, hash, _, _)| hash.clone());
    let wait = Duration::from_millis(u64::from(settings.password_wait_ms));
    let matches = match passwords::verify(password.to_owned(), hash, wait).await {
        Ok(matches) => matches,
        Err(error) => {
            forget_attempt(pool, attempt).await?;
            return Err(error.into());
        }
    };
    let user = match row {
        Some((id, _, role, false)) if matches => role.parse::<Role>().ok().map(|role| (id, role)),
        _ => None,
    };
    let Some((user_id, role)) = user else {
        // The attempt's record stays: it is the failure. Failures older than the window count no
        // more: dropping them keeps the table as small as one window's failures, however many names
        // a guesser tries.
        sqlx::query("DELETE FROM login_failures WHERE failed_at <= now() - make_interval(mins => $1)")
            .bind(minutes)
            .execute(pool)
            .await?;
        return Err(AccountError::WrongCredentials);
    };
    let secret = auth::random_secret("ss_");
    let csrf_token = auth::random_secret("");
    let idle_seconds = i32::try_from(u64::from(settings.session_idle_minutes) * 60).unwrap_or(i32::MAX);
    let max_seconds = i64::from(settings.session_max_hours) * 3600;
    let expires_ms: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (secret_sha256, user_id, csrf_token, idle_seconds, idle_expires_at, expires_at) \
         VALUES ($1, $2, $3, $4::integer, now() + make_interval(secs => $4::integer), now() + make_interval(secs => $5)) \
         RETURNING (extract(epoch from expires_at) * 1000)::bigint",
    )
    .bind(auth::digest(&secret))
    .bind(user_id)
    .bind(&csrf_token)
    .bind(idle_seconds)
    .bind(max_seconds as f64)
    .fetch_one(pool)
    .await?;
    sqlx::query("DELETE FROM login_failures WHERE username = $1").bind(username).execute(pool).await?;
    let principal = Principal { id: user_id, name: username.to_owned(), role, via: Via::Session };
    Ok(NewSession { secret, csrf_token, principal, expires_ms })
}

/// Records an attempt at `username` from `client` as a failure before its password is checked, or
/// refuses it when the username's or the address's failures within the window reached their limits.
/// The count and the record are one step per username and per address (transaction-scoped advisory
/// locks, the username's first), so however many attempts arrive at once, no more than the limit are
/// recorded, and only recorded attempts are checked.
async fn record_attempt(
    pool: &PgPool,
    settings: &AccountSettings,
    username: &str,
    client: Option<&str>,
) -> Result<i64, AccountError> {
    let window = settings.failure_window_minutes;
    let client = client.unwrap_or("");
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))").bind(username).execute(&mut *tx).await?;
    if !client.is_empty() {
        sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext($1))").bind(client).execute(&mut *tx).await?;
    }
    let (by_user, by_client): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE username = $1), count(*) FILTER (WHERE client = $2 AND $2 <> '') \
         FROM login_failures WHERE (username = $1 OR client = $2) AND failed_at > now() - make_interval(mins => $3)",
    )
    .bind(username)
    .bind(client)
    .bind(i32::try_from(window).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    if by_user >= i64::from(settings.max_failures_per_user) {
        return Err(AccountError::Throttled("for this username", window));
    }
    if !client.is_empty() && by_client >= i64::from(settings.max_failures_per_client) {
        return Err(AccountError::Throttled("from this address", window));
    }
    let attempt: i64 = sqlx::query_scalar("INSERT INTO login_failures (username, client) VALUES ($1, $2) RETURNING id")
        .bind(username)
        .bind(client)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(attempt)
}

/// Removes the record of an attempt whose password was not checked.
async fn forget_attempt(pool: &PgPool, attempt: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(attempt).execute(pool).await?;
    Ok(())
}

/// A live session, as a request's cookie names it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session's id.
    pub session_id: uuid::Uuid,
    /// Its user.
    pub principal: Principal,
    /// The token state-changing requests must carry in [`CSRF_HEADER`].
    pub csrf_token: String,
    /// When it ends at the latest (Unix ms).
    pub expires_ms: i64,
}

/// The live session whose cookie secret is `secret`, moving its idle deadline (never past its
/// absolute end). Ended, idle, expired and disabled users' sessions are [`AuthError::SessionEnded`].
pub async fn session(pool: &PgPool, secret: &str) -> Result<LiveSession, AuthError> {
    let row: Option<(uuid::Uuid, uuid::Uuid, String, String, String, i64)> = sqlx::query_as(
        "UPDATE sessions s SET idle_expires_at = least(now() + make_interval(secs => s.idle_seconds), s.expires_at) \
         FROM users u \
         WHERE s.secret_sha256 = $1 AND u.id = s.user_id AND s.ended_at IS NULL AND u.disabled_at IS NULL \
           AND s.idle_expires_at > now() AND s.expires_at > now() \
         RETURNING s.id, u.id, u.username, u.role, s.csrf_token, (extract(epoch from s.expires_at) * 1000)::bigint",
    )
    .bind(auth::digest(secret))
    .fetch_optional(pool)
    .await?;
    let (session_id, user_id, username, role, csrf_token, expires_ms) = row.ok_or(AuthError::SessionEnded)?;
    let role = role.parse().map_err(|_| AuthError::SessionEnded)?;
    Ok(LiveSession {
        session_id,
        principal: Principal { id: user_id, name: username, role, via: Via::Session },
        csrf_token,
        expires_ms,
    })
}

/// Ends the session `session_id` (logout).
pub async fn end_session(pool: &PgPool, session_id: uuid::Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET ended_at = coalesce(ended_at, now()) WHERE id = $1")
        .bind(session_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The value of cookie `name` in a `Cookie` header's value.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(check_username("ann.lee").is_ok());
        assert!(check_username("ann lee").is_err());
        assert!(check_username("").is_err());
        assert!(check_password("short").is_err_and(|e| e.to_string().contains("at least 10")));
        assert!(check_password("long enough pass").is_ok());
    }

    #[test]
    fn cookies_are_read_by_name() {
        let header = "theme=dark; sightline_session=ss_abc; other=1";
        assert_eq!(cookie_value(header, SESSION_COOKIE), Some("ss_abc"));
        assert_eq!(cookie_value("x=1", SESSION_COOKIE), None);
    }
}
