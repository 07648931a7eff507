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

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{self, AccountError, AccountSettings, SESSION_COOKIE, UserChange, UserInfo};
use crate::api::{Administers, AnyRole, ApiError, Caller, check_text};
use crate::auth::{self, Role, TokenInfo, Via};

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(message) => ApiError::bad_request(message),
            AccountError::Taken(_) => ApiError::conflict(error.to_string()),
            AccountError::NoSuchUser(_) => ApiError::not_found(error.to_string()),
            AccountError::WrongCredentials => ApiError(StatusCode::UNAUTHORIZED, error.to_string()),
            AccountError::Throttled(..) => ApiError(StatusCode::TOO_MANY_REQUESTS, error.to_string()),
            AccountError::Busy => ApiError(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
            AccountError::Database(error) => ApiError::from(error),
            AccountError::Hash(message) => {
                tracing::error!(%message, "password hashing failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "password hashing failed".into())
            }
        }
    }
}

/// What the accounts routes need: the database and the account settings.
#[derive(Clone)]
pub struct AccountsState {
    /// The database of users, sessions and tokens.
    pub pool: PgPool,
    /// Session lifetimes, cookie flags, login throttling.
    pub settings: AccountSettings,
}

impl FromRef<AccountsState> for PgPool {
    fn from_ref(state: &AccountsState) -> PgPool {
        state.pool.clone()
    }
}

/// The routes above, documented, for the service that serves them.
pub fn router() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(current_session))
        .routes(routes!(logout))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(ApiError::invalid_json)
}

fn parse_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not an id (a UUID)")))
}

/// A login's form.
#[derive(Debug, Deserialize, ToSchema)]
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

/// Who is calling, and how (a session or a token).
#[derive(Debug, Serialize, ToSchema)]
struct SessionView {
    /// The user's or the token's name.
    name: String,
    /// Their role.
    role: Role,
    /// A session (the web app) or a bearer token (a program).
    via: Via,
    /// The token a session's changes send in `X-CSRF-Token`; null for a bearer token.
    csrf_token: Option<String>,
    /// When the session ends at the latest, ms since the epoch; null for a bearer token.
    expires_ms: Option<i64>,
}

/// Logs in with a password: opens a session.
///
/// Sets the session cookie (HttpOnly, SameSite=Strict, Secure unless configured off) and answers
/// the session with its CSRF token. Failed logins are throttled per user and client (429).
#[utoipa::path(post, path = "/v1/auth/login", tag = "accounts", security(()), request_body = LoginForm,
    responses((status = 200, body = SessionView, description = "logged in"),
        (status = 401, body = crate::openapi::ErrorBody, description = "wrong user name or password"),
        (status = 429, body = crate::openapi::ErrorBody, description = "too many failed logins; wait"),
        (status = 503, body = crate::openapi::ErrorBody, description = "too many logins at once; try again in a moment")))]
async fn login(
    State(state): State<AccountsState>,
    headers: HeaderMap,
    body: Result<Json<LoginForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let form = json_body(body)?;
    let (pool, settings) = (&state.pool, &state.settings);
    // The proxy sets X-Real-IP to the client's address (and replaces any the client sent).
    let client = headers.get("x-real-ip").and_then(|v| v.to_str().ok());
    let session = accounts::login(pool, settings, &form.username, &form.password, client).await?;
    let max_age = i64::from(settings.session_max_hours) * 3600;
    let cookie = session_cookie(settings, &session.secret, max_age)?;
    tracing::info!(user = %session.principal.name, "login");
    let body = Json(SessionView {
        name: session.principal.name,
        role: session.principal.role,
        via: Via::Session,
        csrf_token: Some(session.csrf_token),
        expires_ms: Some(session.expires_ms),
    });
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

/// Who the caller is: the session (with its CSRF token) or the bearer token.
#[utoipa::path(get, path = "/v1/auth/session", tag = "accounts", responses((status = 200, body = SessionView)))]
async fn current_session(caller: Caller<AnyRole>) -> Json<SessionView> {
    Json(SessionView {
        name: caller.principal.name,
        role: caller.role,
        via: caller.principal.via,
        csrf_token: caller.session.as_ref().map(|s| s.csrf_token.clone()),
        expires_ms: caller.session.as_ref().map(|s| s.expires_ms),
    })
}

/// Logs out: ends the caller's session and clears its cookie.
///
/// A bearer token is not logged out but revoked (`DELETE /v1/tokens/{id}`): 400.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "accounts", responses((status = 204, description = "logged out"),
    (status = 400, body = crate::openapi::ErrorBody, description = "the caller used a token, not a session")))]
async fn logout(State(state): State<AccountsState>, caller: Caller<AnyRole>) -> Result<Response, ApiError> {
    let Some(session) = caller.session else {
        return Err(ApiError::bad_request(
            "logout ends a browser session; a token is revoked with DELETE /v1/tokens/{id}",
        ));
    };
    accounts::end_session(&state.pool, session.session_id).await?;
    let cookie = session_cookie(&state.settings, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The users (GET /v1/users).
#[derive(Debug, Serialize, ToSchema)]
struct Users {
    /// By user name.
    users: Vec<UserInfo>,
}

/// Lists the users with their roles and open sessions (admins).
#[utoipa::path(get, path = "/v1/users", tag = "accounts", responses((status = 200, body = Users)))]
async fn list_users(State(pool): State<PgPool>, _caller: Caller<Administers>) -> Result<Json<Users>, ApiError> {
    Ok(Json(Users { users: accounts::list_users(&pool).await? }))
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    role: Role,
}

/// What was made: its id.
#[derive(Debug, Serialize, ToSchema)]
struct Created {
    /// The new user's id.
    id: uuid::Uuid,
}

/// Creates a user with a password and a role (admins).
#[utoipa::path(post, path = "/v1/users", tag = "accounts", request_body = NewUser,
    responses((status = 201, body = Created), (status = 409, body = crate::openapi::ErrorBody, description = "the user name is taken")))]
async fn create_user(
    State(pool): State<PgPool>,
    caller: Caller<Administers>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let user = json_body(body)?;
    let id = accounts::create_user(&pool, &user.username, &user.password, user.role).await?;
    tracing::info!(by = %caller.principal.name, user = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// Changes a user's role or password, or disables or enables them (admins; not themselves).
///
/// A new password or disabling ends the user's sessions.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "accounts", params(("id" = uuid::Uuid, Path, description = "The user.")),
    request_body = UserChange, responses((status = 204, description = "changed")))]
async fn update_user(
    State(pool): State<PgPool>,
    caller: Caller<Administers>,
    Path(id): Path<String>,
    body: Result<Json<UserChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let change = json_body(body)?;
    if caller.principal.id == id && (change.disabled == Some(true) || change.role.is_some_and(|r| r != Role::Admin)) {
        return Err(ApiError::bad_request("an admin cannot disable or demote their own account"));
    }
    accounts::update_user(&pool, id, change).await?;
    tracing::info!(by = %caller.principal.name, %id, "user changed");
    Ok(StatusCode::NO_CONTENT)
}

/// The bearer tokens (GET /v1/tokens).
#[derive(Debug, Serialize, ToSchema)]
struct Tokens {
    /// Newest first; never their secrets.
    tokens: Vec<TokenInfo>,
}

/// Lists the bearer tokens with their state (admins).
#[utoipa::path(get, path = "/v1/tokens", tag = "accounts", responses((status = 200, body = Tokens)))]
async fn list_tokens(State(pool): State<PgPool>, _caller: Caller<Administers>) -> Result<Json<Tokens>, ApiError> {
    Ok(Json(Tokens { tokens: auth::list_tokens(&pool).await? }))
}

/// A token issued: its secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct IssuedToken {
    /// Its id (to revoke it).
    id: uuid::Uuid,
    /// The secret to send as `Authorization: Bearer <token>`.
    token: String,
    /// When it expires, ms since the epoch; null: never.
    expires_ms: Option<i64>,
}

/// A token to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: Role,
    /// Days until it expires; absent: never.
    expires_in_days: Option<u32>,
}

/// The longest validity a token may be issued with, in days (ten years).
const MAX_TOKEN_DAYS: u32 = 3650;

/// Issues a bearer token for a program (admins).
#[utoipa::path(post, path = "/v1/tokens", tag = "accounts", request_body = NewToken, responses((status = 201, body = IssuedToken)))]
async fn create_token(
    State(pool): State<PgPool>,
    caller: Caller<Administers>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
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
    let issued = auth::issue(&pool, &request.name, request.role, expires_ms).await?;
    tracing::info!(by = %caller.principal.name, name = %request.name, role = request.role.as_str(), "token issued");
    Ok((StatusCode::CREATED, Json(IssuedToken { id: issued.id, token: issued.token, expires_ms })))
}

/// Revokes a bearer token (admins): it is refused from now on.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "accounts", params(("id" = uuid::Uuid, Path, description = "The token.")),
    responses((status = 204, description = "revoked")))]
async fn revoke_token(
    State(pool): State<PgPool>,
    caller: Caller<Administers>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if !auth::revoke(&pool, id).await? {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    tracing::info!(by = %caller.principal.name, %id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
