//! The notifier's REST API.
//!
//! - `GET /v1/alert-rules`, `POST /v1/alert-rules` (`{"name", "list_ids", "stream_ids", "sites",
//!   "min_similarity", "cooldown_secs", "channels": {"webhook": {"url", "secret"}, "email": {"to"},
//!   "live", "kafka"}, "enabled"}`); `GET`, `PUT`, `DELETE /v1/alert-rules/{id}`;
//! - `GET /v1/alerts?rule&stream&person&limit`: the latest alerts, newest first, each with its
//!   deliveries (channel, status, attempts, last error);
//! - `GET /v1/alerts/{id}`: one alert with its deliveries and every attempt;
//! - `GET /v1/alerts/{id}/best-shot`: the best shot of the report that raised it, JPEG (when
//!   `has_best_shot`);
//! - `GET /v1/alerts/live`: the live feed, Server-Sent Events (`event: alert`, data: the alert's JSON
//!   document, as webhooks receive it), ended (`event: ended`) within a second of its token's or
//!   session's end; `POST /v1/alerts/live/ticket`: a single-use ticket for `?ticket=`, for an
//!   `EventSource` that cannot send headers (a token in a URL would stay in proxies' logs).
//!
//! Reads need analyst or above (alerts name people); rule changes need admin or operator. Webhook
//! secrets are shown to admins only; a rule sent back with the masked secret (`***`) keeps the stored
//! one. Errors are JSON `{"error": "..."}`: a malformed rule, a webhook
//! URL that is not http(s) or points at a non-routable host not allowed by the operator, or a list or
//! stream that does not exist is a 400.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sightline_common::api::{Access, ApiError, Caller, Manages, SeesPeople, authorize, credential_of, permit};
use sightline_common::auth::{Credential, Role};
use sightline_common::openapi::{self, ErrorBody};
use sqlx::PgPool;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::alert::{ALERT_COLUMNS, Alert, AlertDocument};
use crate::live::{FeedItem, LiveFeed};
use crate::rules::{self, AlertRule, RuleInput};
use crate::targets::TargetPolicy;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Rules and alerts.
    pub pool: PgPool,
    /// Which webhook targets are allowed.
    pub policy: TargetPolicy,
    /// The live feed.
    pub live: LiveFeed,
}

impl FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> Self {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().with_state(state).split_for_parts();
    router.merge(openapi::route(&openapi())).fallback(|| async { ApiError::not_found("no such route") })
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(one_rule, update_rule, delete_rule))
        .routes(routes!(list_alerts))
        .routes(routes!(live))
        .routes(routes!(live_ticket))
        .routes(routes!(one_alert))
        .routes(routes!(best_shot))
}

/// The API's OpenAPI document (`GET /openapi.json`, kept in `schemas/openapi/notifier.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(
        routes().into_openapi(),
        "Sightline alerts API",
        "Alert rules (which watchlist matches raise alerts, and where they go: webhook, email, the live \
         feed, Kafka), the alerts raised with their deliveries, and the live feed. Reading needs an analyst \
         or above (alerts name people); rule changes need an operator or admin. Webhook secrets are shown \
         to admins only; a rule sent back with the masked secret (`***`) keeps the stored one.",
    )
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not {what} id (a UUID)")))
}

fn shown(rule: rules::AlertRule, role: Role) -> rules::AlertRule {
    if role == Role::Admin { rule } else { rule.masked() }
}

/// The alert rules.
#[derive(Debug, Serialize, ToSchema)]
struct Rules {
    /// By name.
    rules: Vec<AlertRule>,
}

/// Lists the alert rules (analysts and up).
#[utoipa::path(get, path = "/v1/alert-rules", tag = "rules", responses((status = 200, body = Rules)))]
async fn list_rules(State(pool): State<PgPool>, caller: Caller<SeesPeople>) -> Result<Json<Rules>, ApiError> {
    let rules = rules::list(&pool).await?.into_iter().map(|r| shown(r, caller.role)).collect();
    Ok(Json(Rules { rules }))
}

/// One alert rule (analysts and up).
#[utoipa::path(get, path = "/v1/alert-rules/{id}", tag = "rules", params(("id" = Uuid, Path, description = "The rule.")), responses((status = 200, body = AlertRule)))]
async fn one_rule(
    State(pool): State<PgPool>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<AlertRule>, ApiError> {
    let rule = rules::get(&pool, parse_id(&id, "a rule")?).await?.ok_or_else(|| ApiError::not_found("no such rule"))?;
    Ok(Json(shown(rule, caller.role)))
}

/// The rule in `body`, checked: 400 naming what is wrong. A change of rule `id` whose webhook secret
/// is the masked one keeps the stored secret.
async fn checked_input(
    state: &ApiState,
    body: Result<Json<RuleInput>, JsonRejection>,
    id: Option<Uuid>,
) -> Result<RuleInput, ApiError> {
    let Json(mut input) = body.map_err(ApiError::invalid_json)?;
    if let Some(webhook) = input.channels.webhook.as_mut()
        && webhook.secret == rules::MASKED_SECRET
    {
        let stored = match id {
            Some(id) => rules::get(&state.pool, id).await?.and_then(|rule| rule.channels.webhook),
            None => None,
        };
        let stored = stored
            .ok_or_else(|| ApiError::bad_request("channels.webhook.secret: no stored secret to keep; give one"))?;
        webhook.secret = stored.secret;
    }
    input.validate(&state.policy).map_err(ApiError::bad_request)?;
    if let Some(unknown) = rules::unknown_references(&state.pool, &input).await? {
        return Err(ApiError::bad_request(unknown));
    }
    Ok(input)
}

fn name_taken(error: sqlx::Error, name: &str) -> ApiError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::conflict(format!("a rule named {name:?} exists"))
        }
        _ => ApiError::from(error),
    }
}

/// Creates an alert rule; it applies to events from now on (operators and admins).
#[utoipa::path(post, path = "/v1/alert-rules", tag = "rules", request_body = RuleInput,
    responses((status = 201, body = AlertRule), (status = 409, body = ErrorBody, description = "the name is taken")))]
async fn create_rule(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    body: Result<Json<RuleInput>, JsonRejection>,
) -> Result<(StatusCode, Json<AlertRule>), ApiError> {
    let input = checked_input(&state, body, None).await?;
    let rule = rules::save(&state.pool, None, &input)
        .await
        .map_err(|e| name_taken(e, &input.name))?
        .ok_or_else(|| ApiError::from(sqlx::Error::RowNotFound))?;
    Ok((StatusCode::CREATED, Json(shown(rule, caller.role))))
}

/// Replaces an alert rule (operators and admins).
#[utoipa::path(put, path = "/v1/alert-rules/{id}", tag = "rules", params(("id" = Uuid, Path, description = "The rule.")), request_body = RuleInput,
    responses((status = 200, body = AlertRule), (status = 409, body = ErrorBody, description = "the name is taken")))]
async fn update_rule(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
    body: Result<Json<RuleInput>, JsonRejection>,
) -> Result<Json<AlertRule>, ApiError> {
    let id = parse_id(&id, "a rule")?;
    let input = checked_input(&state, body, Some(id)).await?;
    let rule = rules::save(&state.pool, Some(id), &input)
        .await
        .map_err(|e| name_taken(e, &input.name))?
        .ok_or_else(|| ApiError::not_found("no such rule"))?;
    Ok(Json(shown(rule, caller.role)))
}

/// Deletes an alert rule; the alerts it raised stay (operators and admins).
#[utoipa::path(delete, path = "/v1/alert-rules/{id}", tag = "rules", params(("id" = Uuid, Path, description = "The rule.")), responses((status = 204, description = "deleted")))]
async fn delete_rule(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !rules::delete(&pool, parse_id(&id, "a rule")?).await? {
        return Err(ApiError::not_found("no such rule"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Filters of `GET /v1/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AlertFilter {
    /// Only alerts of this rule.
    rule: Option<Uuid>,
    /// Only alerts on this stream.
    stream: Option<String>,
    /// Only alerts about this person.
    person: Option<Uuid>,
    /// The most alerts, 1 to 1000; default 100.
    limit: Option<i64>,
}

/// Where an alert went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct Delivery {
    /// `webhook`, `email`, `live` or `kafka`.
    channel: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    /// Attempts so far.
    attempts: i32,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// When it was delivered, ms since the epoch.
    delivered_ms: Option<i64>,
}

/// An alert with its deliveries.
#[derive(Debug, Serialize, ToSchema)]
struct AlertView {
    /// The alert.
    #[serde(flatten)]
    alert: Alert,
    /// Its deliveries, by channel.
    deliveries: Vec<Delivery>,
}

/// The latest alerts.
#[derive(Debug, Serialize, ToSchema)]
struct Alerts {
    /// Newest first.
    alerts: Vec<AlertView>,
}

/// Deliveries of alerts, per alert.
async fn deliveries_of(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, sqlx::types::Json<Vec<Delivery>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT alert_id, json_agg(json_build_object('channel', channel, 'status', status, 'attempts', attempts, \
         'last_error', last_error, 'delivered_ms', (extract(epoch FROM delivered_at) * 1000)::bigint) \
         ORDER BY channel) FROM alert_deliveries WHERE alert_id = ANY($1) GROUP BY alert_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// The latest alerts, newest first, each with its deliveries (analysts and up).
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertFilter), responses((status = 200, body = Alerts)))]
async fn list_alerts(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    filter: Result<Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Alerts>, ApiError> {
    let Query(filter) = filter.map_err(ApiError::invalid_query)?;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is outside 1..=1000")));
    }
    let alerts: Vec<Alert> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN alert_rules r ON r.id = a.rule_id \
         WHERE ($1::uuid IS NULL OR a.rule_id = $1) AND ($2::text IS NULL OR a.stream_id = $2) \
         AND ($3::uuid IS NULL OR a.person_id = $3) ORDER BY a.raised_at DESC, a.id LIMIT $4"
    ))
    .bind(filter.rule)
    .bind(filter.stream)
    .bind(filter.person)
    .bind(limit)
    .fetch_all(&pool)
    .await?;
    let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
    let mut deliveries: std::collections::HashMap<Uuid, Vec<Delivery>> =
        deliveries_of(&pool, &ids).await?.into_iter().map(|(id, d)| (id, d.0)).collect();
    let alerts = alerts
        .into_iter()
        .map(|alert| AlertView { deliveries: deliveries.remove(&alert.id).unwrap_or_default(), alert })
        .collect();
    Ok(Json(Alerts { alerts }))
}

/// One recorded attempt.
#[derive(Debug, serde::Serialize, ToSchema)]
struct AttemptRow {
    /// The channel.
    channel: String,
    /// 1 for the first attempt.
    attempt: i32,
    /// `delivered`, `retry` or `failed`.
    outcome: String,
    /// The receiver's HTTP or SMTP status; 0 without one.
    status_code: i32,
    /// Why it failed; empty when it did not.
    error: String,
    /// How long it took, ms.
    duration_ms: i32,
    /// When, ms since the epoch.
    at_ms: i64,
}

/// An alert with its deliveries and every attempt.
#[derive(Debug, Serialize, ToSchema)]
struct AlertDetail {
    /// The alert and its deliveries.
    #[serde(flatten)]
    view: AlertView,
    /// Every delivery attempt, oldest first.
    attempts: Vec<AttemptRow>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for AttemptRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row as _;
        Ok(Self {
            channel: row.try_get("channel")?,
            attempt: row.try_get("attempt")?,
            outcome: row.try_get("outcome")?,
            status_code: row.try_get("status_code")?,
            error: row.try_get("error")?,
            duration_ms: row.try_get("duration_ms")?,
            at_ms: row.try_get("at_ms")?,
        })
    }
}

/// One alert with its deliveries and every delivery attempt (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")), responses((status = 200, body = AlertDetail)))]
async fn one_alert(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let alert = Alert::load(&pool, id).await?.ok_or_else(|| ApiError::not_found("no such alert"))?;
    let deliveries = deliveries_of(&pool, &[id]).await?.into_iter().next().map(|(_, d)| d.0).unwrap_or_default();
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT channel, attempt, outcome, status_code, error, duration_ms, \
         (extract(epoch FROM at) * 1000)::bigint AS at_ms FROM alert_delivery_attempts WHERE alert_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await?;
    Ok(Json(AlertDetail { view: AlertView { alert, deliveries }, attempts }))
}

/// The best shot of the report that raised an alert, JPEG, when `has_best_shot` (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/{id}/best-shot", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the best shot")))]
async fn best_shot(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let jpeg =
        Alert::best_shot(&pool, id).await?.ok_or_else(|| ApiError::not_found("no best shot of such an alert"))?;
    Ok(sightline_common::api::jpeg(jpeg, "private, max-age=3600"))
}

/// How long a live-feed ticket may wait to be used, in seconds.
const TICKET_SECONDS: u32 = 30;

/// A ticket for the live feed: put it in the feed's URL within `expires_ms`; it works once.
#[derive(Debug, Serialize, ToSchema)]
struct LiveTicket {
    /// The single-use secret for `GET /v1/alerts/live?ticket=`.
    ticket: String,
    /// When it expires unused, ms since the epoch.
    expires_ms: i64,
}

/// A single-use ticket to open the live feed with (analysts and up).
///
/// For clients that cannot send headers to the feed's URL (an `EventSource`): the ticket stands in
/// the query string instead of a token, so no log holds a credential that still works. It expires
/// unused after 30 s; the feed it opens runs on the caller's token or session, and ends when that
/// ends.
#[utoipa::path(post, path = "/v1/alerts/live/ticket", tag = "alerts", responses((status = 201, body = LiveTicket)))]
async fn live_ticket(
    State(pool): State<PgPool>,
    caller: Caller<SeesPeople>,
) -> Result<(StatusCode, Json<LiveTicket>), ApiError> {
    let (ticket, expires_ms) = caller.credential().ticket(&pool, TICKET_SECONDS).await?;
    Ok((StatusCode::CREATED, Json(LiveTicket { ticket, expires_ms })))
}

/// The ticket of `GET /v1/alerts/live`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    /// A ticket from `POST /v1/alerts/live/ticket`, for clients that cannot set headers (an
    /// `EventSource`); a session's cookie or a bearer token work too.
    ticket: Option<String>,
}

/// The live feed of alerts, Server-Sent Events (analysts and up).
///
/// Each alert is an `event: alert` whose data is the alert's document, as webhooks receive it
/// (`AlertDocument`); `event: lagged` (`{"missed": n}`) says a slow reader missed some. Comments
/// keep the connection open every 15 s. The caller's token or session is checked again every second
/// and before each alert: once it is revoked, logged out, expired or its user disabled, the feed
/// sends `event: ended` (`{"reason": ...}`) and closes.
#[utoipa::path(get, path = "/v1/alerts/live", tag = "alerts", params(LiveQuery),
    responses((status = 200, content_type = "text/event-stream", body = AlertDocument, description = "alerts as they are raised")))]

async fn live(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(ApiError::invalid_query)?;
    let credential = match query.ticket {
        Some(ticket) => {
            let unauthorized = |message: &str| ApiError(StatusCode::UNAUTHORIZED, message.to_owned());
            let credential = Credential::redeem(&state.pool, &ticket).await?.ok_or_else(|| {
                unauthorized("unknown, used or expired ticket (POST /v1/alerts/live/ticket issues one)")
            })?;
            let holder = credential
                .holder(&state.pool)
                .await?
                .ok_or_else(|| unauthorized("the ticket's token or session has ended"))?;
            permit(holder.role, Access::People, "alerts")?;
            credential
        }
        None => {
            let (principal, session) = authorize(&state.pool, &Method::GET, &headers, Access::People, "alerts").await?;
            credential_of(&principal, session.as_ref())
        }
    };
    let subscription = state.live.subscribe(state.pool.clone(), credential);
    let stream = futures::stream::unfold(subscription, |mut subscription| async move {
        let event = match subscription.next().await? {
            FeedItem::Alert(document) => Event::default().event("alert").data(document),
            FeedItem::Lagged(missed) => Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}")),
            FeedItem::Ended(reason) => {
                Event::default().event("ended").data(serde_json::json!({ "reason": reason }).to_string())
            }
        };
        Some((Ok::<_, std::convert::Infallible>(event), subscription))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_openapi_document_is_the_one_the_code_generates() {
        if let Err(difference) = sightline_common::openapi::check_kept(&super::openapi(), "notifier") {
            panic!("{difference}");
        }
    }
}
