//! What every service's REST API shares: JSON errors (`{"error": "..."}` with the status), bearer
//! token authorization against `api_tokens` ([`crate::auth`]) through one extractor, [`Caller`],
//! whose type parameter says what a route needs, and masking of credentials in URLs.

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
    /// Reads the audit trail (who searched for whom): admin only.
    Audit,
}

/// Checks one text field of a request: at most `max_bytes` of UTF-8 and no control characters (NUL,
/// which PostgreSQL refuses, and line breaks or escapes that would forge log lines or mail headers).
/// The error names the field, for a 400.
pub fn check_text(field: &str, value: &str, max_bytes: usize) -> Result<(), String> {
    if value.len() > max_bytes {
        return Err(format!("{field} is {} bytes, more than the {max_bytes} allowed", value.len()));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!("{field} contains the control character U+{:04X}", u32::from(c)));
    }
    Ok(())
}

/// What a route needs, as a type for [`Caller`].
pub trait Requirement: Send + Sync + 'static {
    /// The access checked.
    const ACCESS: Access;
    /// What the route shows or changes, for the 403's message.
    const WHAT: &'static str;
}

/// Any valid token: aggregates only (counts, timelines, stream states without URLs or errors).
pub struct AnyRole;
impl Requirement for AnyRole {
    const ACCESS: Access = Access::Read;
    const WHAT: &'static str = "aggregates";
}

/// Analyst, operator or admin: what identifies people (events, faces, names, watchlists, schedule
/// recipients).
pub struct SeesPeople;
impl Requirement for SeesPeople {
    const ACCESS: Access = Access::People;
    const WHAT: &'static str = "faces, names, watchlists or recipients";
}

/// Admin only: the audit trail (who searched for which face, when).
pub struct Audits;

impl Requirement for Audits {
    const ACCESS: Access = Access::Audit;
    const WHAT: &'static str = "the audit trail";
}

/// Operator or admin: changes to configuration (streams, watchlists, schedules).
pub struct Manages;
impl Requirement for Manages {
    const ACCESS: Access = Access::Manage;
    const WHAT: &'static str = "configuration";
}

/// The authenticated caller of a route that needs `R`: extracting it answers 401 without a valid
/// token and 403 when the role falls short, before the handler runs. The service's state must
/// give the token store (`PgPool: FromRef<State>`).
pub struct Caller<R: Requirement> {
    /// The caller's role (handlers use it for field-level rules, e.g. [`mask_url`]).
    pub role: Role,
    /// The caller's token (id and name), for audit records.
    pub bearer: auth::Bearer,
    requirement: std::marker::PhantomData<R>,
}

impl<S, R> axum::extract::FromRequestParts<S> for Caller<R>
where
    PgPool: axum::extract::FromRef<S>,
    S: Send + Sync,
    R: Requirement,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let pool = <PgPool as axum::extract::FromRef<S>>::from_ref(state);
        let bearer = authorize(&pool, &parts.headers, R::ACCESS, R::WHAT).await?;
        Ok(Self { role: bearer.role, bearer, requirement: std::marker::PhantomData })
    }
}

/// `url` with its credentials hidden (`rtsp://***@host/path`; `password`, `token` and similar query
/// values as `***`), for every role but admin and for logs and thread names.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", masked.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{tail}"),
        None => format!("{host}{tail}"),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "token", "secret", "key", "auth", "sig", "credential"].iter().any(|s| key.contains(s))
}

/// `text` (an error message that may quote `url`) with `url` replaced by [`mask_url`]'s form.
pub fn mask_url_in(text: &str, url: &str) -> String {
    if url.is_empty() { text.to_owned() } else { text.replace(url, &mask_url(url)) }
}

/// The caller (its token and role) if its bearer token allows `access`; 401 without a valid token,
/// 403 when the role may not, naming `what` it tried to change or see.
pub async fn authorize(
    pool: &PgPool,
    headers: &HeaderMap,
    access: Access,
    what: &str,
) -> Result<auth::Bearer, ApiError> {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let bearer = auth::bearer(pool, authorization).await.map_err(|error| match error {
        AuthError::Database(error) => ApiError::from(error),
        other => ApiError(StatusCode::UNAUTHORIZED, other.to_string()),
    })?;
    let role = bearer.role;
    match access {
        Access::Manage if !role.can_manage() => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("role {} cannot change {what}", role.as_str())))
        }
        Access::People if !role.can_see_people() => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("role {} cannot see {what}", role.as_str())))
        }
        Access::Audit if role != Role::Admin => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("role {} cannot see {what}", role.as_str())))
        }
        _ => Ok(bearer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_bounded_and_free_of_control_characters() {
        assert_eq!(check_text("name", "Ann Żółć 李", 200), Ok(()));
        assert!(check_text("name", "a\u{0}b", 200).is_err_and(|e| e.contains("name") && e.contains("U+0000")));
        assert!(check_text("name", "a\r\nBcc: x", 200).is_err());
        assert!(check_text("name", &"x".repeat(201), 200).is_err_and(|e| e.contains("201 bytes")));
    }

    #[test]
    fn credentials_are_masked_in_urls_and_texts() {
        assert_eq!(mask_url("rtsp://admin:hunter2@10.0.0.5:554/stream1"), "rtsp://***@10.0.0.5:554/stream1");
        assert_eq!(mask_url("rtsp://cam.local/live"), "rtsp://cam.local/live");
        assert_eq!(
            mask_url("https://cam/video.mjpg?user=a&password=b&fps=5"),
            "https://cam/video.mjpg?user=a&password=***&fps=5"
        );
        assert_eq!(mask_url("https://u:p@cam?token=x"), "https://***@cam?token=***");
        assert_eq!(mask_url("/var/video.mp4"), "/var/video.mp4");
        let text = "could not open rtsp://admin:hunter2@10.0.0.5/s: 401";
        assert_eq!(mask_url_in(text, "rtsp://admin:hunter2@10.0.0.5/s"), "could not open rtsp://***@10.0.0.5/s: 401");
    }
}
