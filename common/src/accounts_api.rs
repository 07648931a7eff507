//! The routes of accounts and credentials, merged into the router of the service the web app's
//! proxy sends `/api/v1/auth`, `/api/v1/users` and `/api/v1/tokens` to (the query service):
//!
//! - `POST /v1/auth/login` `{username, password}`: opens a session; sets the session cookie
//!   (HttpOnly, SameSite=Strict, Secure unless configured off) and answers the CSRF token;
//! - `GET /v1/auth/session`: who the caller is (a session's CSRF token included);
//! - `POST /v1/auth/logout`: ends the caller's session and clears the cookie;
//! - `GET|POST /v1/users`, `PATCH /v1/users/{id}` (admin): accounts, roles, passwords, disabling;
//! - `GET|POST /v1/tokens`, `DELETE /v1/tokens/{id}` (admin): bearer tokens with expiry, and
//!   revocation.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use crate::accounts::{self, AccountError, AccountSettings, SESSION_COOKIE, UserChange};
use crate::api::{Administers, AnyRole, ApiError, Caller, check_text};
use crate::auth::{self, Role};

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(message) => ApiError::bad_request(message),
            AccountError::Taken(_) => ApiError::conflict(error.to_string()),
            AccountError::NoSuchUser(_) => ApiError::not_found(error.to_string()),
            AccountError::WrongCredentials => ApiError(StatusCode::UNAUTHORIZED, error.to_string()),
            AccountError::Throttled(..) => ApiError(StatusCode::TOO_MANY_REQUESTS, error.to_string()),
            AccountError::Database(error) => ApiError::from(error),
            AccountError::Hash(message) => {
                tracing::error!(%message, "password hashing failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "password hashing failed".into())
            }
        }
    }
}

/// The routes above, for a service whose state gives the database and the account settings.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    PgPool: FromRef<S>,
    AccountSettings: FromRef<S>,
{
    Router::new()
        .route("/v1/auth/login", post(login::<S>))
        .route("/v1/auth/session", get(current_session))
        .route("/v1/auth/logout", post(logout::<S>))
        .route("/v1/users", get(list_users::<S>).post(create_user::<S>))
        .route("/v1/users/{id}", patch(update_user::<S>))
        .route("/v1/tokens", get(list_tokens::<S>).post(create_token::<S>))
        .route("/v1/tokens/{id}", axum::routing::delete(revoke_token::<S>))
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

fn parse_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not an id (a UUID)")))
}

/// A login's form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginForm {
    username: String,
    password: String,
}

fn session_cookie(settings: &AccountSettings, value: &str, max_age_seconds: i64) -> Result<HeaderValue, ApiError> {
    let secure = if settings.secure_cookie { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "cookie value".into()))
}

async fn login<S>(
    State(state): State<S>,
    headers: HeaderMap,
    body: Result<Json<LoginForm>, JsonRejection>,
) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
    AccountSettings: FromRef<S>,
{
    let form = json_body(body)?;
    let (pool, settings) = (PgPool::from_ref(&state), AccountSettings::from_ref(&state));
    // The proxy sets X-Real-IP to the client's address (and replaces any the client sent).
    let client = headers.get("x-real-ip").and_then(|v| v.to_str().ok());
    let session = accounts::login(&pool, &settings, &form.username, &form.password, client).await?;
    let max_age = i64::from(settings.session_max_hours) * 3600;
    let cookie = session_cookie(&settings, &session.secret, max_age)?;
    tracing::info!(user = %session.principal.name, "login");
    let body = Json(json!({
        "username": session.principal.name,
        "role": session.principal.role.as_str(),
        "csrf_token": session.csrf_token,
        "expires_ms": session.expires_ms,
    }));
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

async fn current_session(caller: Caller<AnyRole>) -> Json<serde_json::Value> {
    Json(json!({
        "name": caller.principal.name,
        "role": caller.role.as_str(),
        "via": caller.principal.via.as_str(),
        "csrf_token": caller.session.as_ref().map(|s| s.csrf_token.as_str()),
        "expires_ms": caller.session.as_ref().map(|s| s.expires_ms),
    }))
}

async fn logout<S>(State(state): State<S>, caller: Caller<AnyRole>) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
    AccountSettings: FromRef<S>,
{
    let Some(session) = caller.session else {
        return Err(ApiError::bad_request(
            "logout ends a browser session; a token is revoked with DELETE /v1/tokens/{id}",
        ));
    };
    accounts::end_session(&PgPool::from_ref(&state), session.session_id).await?;
    let cookie = session_cookie(&AccountSettings::from_ref(&state), "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn list_users<S>(State(state): State<S>, _caller: Caller<Administers>) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
{
    let users = accounts::list_users(&PgPool::from_ref(&state)).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// A new user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    role: Role,
}

async fn create_user<S>(
    State(state): State<S>,
    caller: Caller<Administers>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
{
    let user = json_body(body)?;
    let id = accounts::create_user(&PgPool::from_ref(&state), &user.username, &user.password, user.role).await?;
    tracing::info!(by = %caller.principal.name, user = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn update_user<S>(
    State(state): State<S>,
    caller: Caller<Administers>,
    Path(id): Path<String>,
    body: Result<Json<UserChange>, JsonRejection>,
) -> Result<StatusCode, ApiError>
where
    PgPool: FromRef<S>,
{
    let id = parse_id(&id)?;
    let change = json_body(body)?;
    if caller.principal.id == id && (change.disabled == Some(true) || change.role.is_some_and(|r| r != Role::Admin)) {
        return Err(ApiError::bad_request("an admin cannot disable or demote their own account"));
    }
    accounts::update_user(&PgPool::from_ref(&state), id, change).await?;
    tracing::info!(by = %caller.principal.name, %id, "user changed");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens<S>(State(state): State<S>, _caller: Caller<Administers>) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
{
    let tokens = auth::list_tokens(&PgPool::from_ref(&state)).await?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// A token to issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: Role,
    /// Days until it expires; absent: never.
    expires_in_days: Option<u32>,
}

/// The longest validity a token may be issued with, in days (ten years).
const MAX_TOKEN_DAYS: u32 = 3650;

async fn create_token<S>(
    State(state): State<S>,
    caller: Caller<Administers>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<Response, ApiError>
where
    PgPool: FromRef<S>,
{
    let request = json_body(body)?;
    check_text("name", &request.name, 200).map_err(ApiError::bad_request)?;
    if request.name.trim().is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    let expires_ms = match request.expires_in_days {
        Some(days) if !(1..=MAX_TOKEN_DAYS).contains(&days) => {
            return Err(ApiError::bad_request(format!("expires_in_days must be 1 to {MAX_TOKEN_DAYS}")));
        }
        Some(days) => Some(crate::clock::now_ms() + i64::from(days) * 86_400_000),
        None => None,
    };
    let issued = auth::issue(&PgPool::from_ref(&state), &request.name, request.role, expires_ms).await?;
    tracing::info!(by = %caller.principal.name, name = %request.name, role = request.role.as_str(), "token issued");
    let body = json!({ "id": issued.id, "token": issued.token, "expires_ms": expires_ms });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn revoke_token<S>(
    State(state): State<S>,
    caller: Caller<Administers>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError>
where
    PgPool: FromRef<S>,
{
    let id = parse_id(&id)?;
    if !auth::revoke(&PgPool::from_ref(&state), id).await? {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    tracing::info!(by = %caller.principal.name, %id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
