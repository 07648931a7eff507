//! What every service's REST API shares: JSON errors (`{"error": "..."}` with the status) and bearer
//! token authorization against `api_tokens` ([`crate::auth`]).

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

use crate::auth::{self, AuthError, Role};

/// An error answer: status and message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }

    /// 404: no such resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, message.into())
    }

    /// 409: it conflicts with what exists (e.g. a duplicate name).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self(StatusCode::CONFLICT, message.into())
    }

    /// 422: well-formed, but its content cannot be processed (e.g. a photo without a face).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self(StatusCode::UNPROCESSABLE_ENTITY, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads: any role.
    Read,
    /// Changes configuration: admin or operator ([`Role::can_manage`]).
    Manage,
    /// Reads what identifies people (events, faces, matches): any role but viewer
    /// ([`Role::can_see_people`]).
    People,
}

/// The caller's role if its bearer token allows `access`; 401 without a valid token, 403 when the
/// role may not, naming `what` it tried to change or see.
pub async fn authorize(pool: &PgPool, headers: &HeaderMap, access: Access, what: &str) -> Result<Role, ApiError> {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let role = auth::bearer_role(pool, authorization).await.map_err(|error| match error {
        AuthError::Database(error) => ApiError::from(error),
        other => ApiError(StatusCode::UNAUTHORIZED, other.to_string()),
    })?;
    match access {
        Access::Manage if !role.can_manage() => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("role {} cannot change {what}", role.as_str())))
        }
        Access::People if !role.can_see_people() => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("role {} cannot see {what}", role.as_str())))
        }
        _ => Ok(role),
    }
}
