//! What every service's REST API shares: JSON errors (`{"error": "..."}` with the status),
//! authorization of bearer tokens ([`crate::auth`]) and browser sessions ([`crate::accounts`]) through
//! one extractor, [`Caller`], whose type parameter says what a route needs, and masking of
//! credentials in URLs.

use axum::Json;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

use crate::accounts::{self, CSRF_HEADER, SESSION_COOKIE};
use crate::auth::{self, AuthError, Credential, Principal, Role, Via};

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

    /// 403: the caller may not.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self(StatusCode::FORBIDDEN, message.into())
    }

    /// 400: the body is not the JSON the route takes (serde's reason, naming the field).
    pub fn invalid_json(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::bad_request(format!("invalid JSON body: {}", rejection.body_text()))
    }

    /// 400: the query string is not the one the route takes (axum's reason, naming the parameter).
    pub fn invalid_query(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }

    /// 422: well-formed, but its content cannot be processed (e.g. a photo without a face).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self(StatusCode::UNPROCESSABLE_ENTITY, message.into())
    }
}

/// A JPEG answer (a best shot, a face's picture, a stream's frame), cached by the browser as
/// `cache_control` says (`private, max-age=...` for images that never change, `no-store` for ones
/// that do).
pub fn jpeg(image: impl Into<axum::body::Body>, cache_control: &'static str) -> Response {
    use axum::http::header;
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, cache_control)], image.into()).into_response()
}

/// The part of a video a request asks for: whole, or the single byte range of its `Range` header
/// (`bytes=a-b`, `a-` or `-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPart {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
    /// The video's length.
    pub total: u64,
    /// Asked for as a range (answered 206).
    ranged: bool,
}

impl VideoPart {
    /// The part of a video of `total` bytes that `range` (the `Range` header, if any) asks for;
    /// `Err` when the range is outside the video.
    pub fn of(range: Option<&str>, total: u64) -> Result<Self, RangeNotSatisfiable> {
        let Some(range) = range else {
            return Ok(Self { first: 0, last: total.saturating_sub(1), total, ranged: false });
        };
        match byte_range(range, total) {
            Some((first, last)) => Ok(Self { first, last, total, ranged: true }),
            None => Err(RangeNotSatisfiable { total }),
        }
    }

    /// Its length, bytes.
    pub fn len(&self) -> u64 {
        if self.total == 0 { 0 } else { self.last - self.first + 1 }
    }

    /// Whether it has no bytes (the video is empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A range outside a video of `total` bytes: answered 416 with `Content-Range: bytes */total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeNotSatisfiable {
    /// The video's length.
    pub total: u64,
}

impl IntoResponse for RangeNotSatisfiable {
    fn into_response(self) -> Response {
        use axum::http::{HeaderValue, header};
        let total = self.total;
        let mut refused =
            ApiError(StatusCode::RANGE_NOT_SATISFIABLE, format!("the range is outside the {total} bytes"))
                .into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
            refused.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        refused
    }
}

/// A video answer (MP4): `body` is `part`'s bytes (200, or 206 with `Content-Range`), or nothing for
/// a HEAD request (`body` is `None`: the headers alone, with the length the part has). Never cached
/// (a clip may still grow); `extra` headers added.
pub fn video(part: VideoPart, body: Option<Vec<u8>>, extra: &[(&'static str, String)]) -> Response {
    use axum::http::{HeaderValue, header};
    let status = if part.ranged { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut response = (status, body.unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(part.len()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if part.ranged
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {}-{}/{}", part.first, part.last, part.total))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

/// The first and last byte (inclusive) of a `Range: bytes=…` header over `total` bytes; `None` when
/// it names none of them. Only the first range of a list is served.
fn byte_range(header: &str, total: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?.split(',').next()?.trim();
    let (start, end) = spec.split_once('-')?;
    let last = total.checked_sub(1)?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => (total.saturating_sub(suffix.parse::<u64>().ok().filter(|&n| n > 0)?), last),
        (start, "") => (start.parse().ok()?, last),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(last)),
    };
    (start <= end && start <= last).then_some((start, end))
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

/// An object store failure as an answer: 503 while the store is unavailable (try again), 500 when
/// it refused the request or the settings cannot work.
#[cfg(feature = "objects")]
impl From<crate::objects::ObjectError> for ApiError {
    fn from(error: crate::objects::ObjectError) -> Self {
        tracing::error!(%error, "the object store failed");
        match error {
            crate::objects::ObjectError::Unavailable(_) => {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, "the object store is not answering; try again".into())
            }
            _ => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the object store refused the request".into()),
        }
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
    /// Administration (the audit trail, users, tokens): admin only.
    Admin,
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

/// A SQL `LIKE`/`ILIKE` pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally.
pub fn contains_pattern(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
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
    const ACCESS: Access = Access::Admin;
    const WHAT: &'static str = "the audit trail";
}

/// Admin only: users and tokens.
pub struct Administers;

impl Requirement for Administers {
    const ACCESS: Access = Access::Admin;
    const WHAT: &'static str = "users or tokens";
}

/// Operator or admin: changes to configuration (streams, watchlists, schedules).
pub struct Manages;
impl Requirement for Manages {
    const ACCESS: Access = Access::Manage;
    const WHAT: &'static str = "configuration";
}

/// The authenticated caller of a route that needs `R`: extracting it answers 401 without a valid
/// token or session and 403 when the role falls short (or a session's request that changes
/// something lacks its CSRF token), before the handler runs. The service's state must give the
/// token store (`PgPool: FromRef<State>`).
pub struct Caller<R: Requirement> {
    /// The caller's role (handlers use it for field-level rules, e.g. [`mask_url`]).
    pub role: Role,
    /// Who calls (a token or a user), for audit records.
    pub principal: Principal,
    /// The browser session, when the caller is one (not a token).
    pub session: Option<accounts::LiveSession>,
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
        let (principal, session) = authorize(&pool, &parts.method, &parts.headers, R::ACCESS, R::WHAT).await?;
        Ok(Self { role: principal.role, principal, session, requirement: std::marker::PhantomData })
    }
}

impl<R: Requirement> Caller<R> {
    /// The credential the caller was authorised with (its session, or its token).
    pub fn credential(&self) -> Credential {
        credential_of(&self.principal, self.session.as_ref())
    }
}

/// The credential behind what [`authorize`] answered: the session if there is one, else the token.
pub fn credential_of(principal: &Principal, session: Option<&accounts::LiveSession>) -> Credential {
    match session {
        Some(session) => Credential { via: Via::Session, id: session.session_id },
        None => Credential { via: Via::Token, id: principal.id },
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

/// The caller if its credentials allow `access`: the bearer token in `Authorization` if there is
/// one, else the session cookie. 401 without valid credentials; 403 when the role may not, naming
/// `what` it tried to change or see, and for a session's request that changes something (any
/// method but GET, HEAD and OPTIONS) without the session's token in `X-CSRF-Token`.
pub async fn authorize(
    pool: &PgPool,
    method: &Method,
    headers: &HeaderMap,
    access: Access,
    what: &str,
) -> Result<(Principal, Option<accounts::LiveSession>), ApiError> {
    let unauthorized = |error: AuthError| match error {
        AuthError::Database(error) => ApiError::from(error),
        other => ApiError(StatusCode::UNAUTHORIZED, other.to_string()),
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let cookie = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|header| accounts::cookie_value(header, SESSION_COOKIE));
    let (principal, session) = match (authorization, cookie) {
        (None, Some(secret)) => {
            let session = accounts::session(pool, secret).await.map_err(unauthorized)?;
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !safe && !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header (send the csrf_token of GET /v1/auth/session)",
                ));
            }
            (session.principal.clone(), Some(session))
        }
        _ => (auth::bearer(pool, authorization).await.map_err(unauthorized)?, None),
    };
    permit(principal.role, access, what)?;
    Ok((principal, session))
}

/// Whether `role` may have `access`: a 403 naming `what` it tried to change or see if not.
pub fn permit(role: Role, access: Access, what: &str) -> Result<(), ApiError> {
    let refused = match access {
        Access::Manage => (!role.can_manage()).then_some("change"),
        Access::People => (!role.can_see_people()).then_some("see"),
        Access::Admin => (role != Role::Admin).then_some("see or change"),
        Access::Read => None,
    };
    match refused {
        Some(verb) => Err(ApiError::forbidden(format!("role {} cannot {verb} {what}", role.as_str()))),
        None => Ok(()),
    }
}

/// Whether `a` equals `b`, in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_are_read_as_browsers_send_them() {
        assert_eq!(byte_range("bytes=0-", 100), Some((0, 99)));
        assert_eq!(byte_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(byte_range("bytes=90-500", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=100-", 100), None);
        assert_eq!(byte_range("bytes=20-10", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
        assert_eq!(byte_range("bytes=0-", 0), None);
    }

    #[test]
    fn a_video_part_is_the_whole_or_the_range_asked_for() {
        let whole = VideoPart::of(None, 100).unwrap();
        assert_eq!((whole.first, whole.last, whole.len(), whole.ranged), (0, 99, 100, false));
        let part = VideoPart::of(Some("bytes=10-19"), 100).unwrap();
        assert_eq!((part.first, part.last, part.len(), part.ranged), (10, 19, 10, true));
        assert_eq!(VideoPart::of(Some("bytes=100-"), 100), Err(RangeNotSatisfiable { total: 100 }));
        let refused = RangeNotSatisfiable { total: 100 }.into_response();
        assert_eq!(refused.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(refused.headers()["content-range"], "bytes */100");
        assert!(VideoPart::of(None, 0).unwrap().is_empty());
    }

    #[test]
    fn text_fields_are_bounded_and_free_of_control_characters() {
        assert_eq!(check_text("name", "Ann Żółć 李", 200), Ok(()));
        assert!(check_text("name", "a\u{0}b", 200).is_err_and(|e| e.contains("name") && e.contains("U+0000")));
        assert!(check_text("name", "a\r\nBcc: x", 200).is_err());
        assert!(check_text("name", &"x".repeat(201), 200).is_err_and(|e| e.contains("201 bytes")));
    }

    #[test]
    fn a_search_pattern_takes_wildcards_literally() {
        assert_eq!(contains_pattern("ann"), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
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
