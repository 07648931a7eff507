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
//!   document, as webhooks receive it). Browsers cannot set headers on an `EventSource`, so this route
//!   also takes the token as `?access_token=`.
//!
//! Reads need analyst or above (alerts name people); rule changes need admin or operator. Webhook
//! secrets are shown to admins only; a rule sent back with the masked secret (`***`) keeps the stored
//! one. Errors are JSON `{"error": "..."}`: a malformed rule, a webhook
//! URL that is not http(s) or points at a non-routable host not allowed by the operator, or a list or
//! stream that does not exist is a 400.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt as _;
use serde::Deserialize;
use sightline_common::api::{Access, ApiError, Caller, Manages, SeesPeople, authorize};
use sightline_common::auth::Role;
use sqlx::PgPool;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use uuid::Uuid;

use crate::alert::{ALERT_COLUMNS, Alert};
use crate::live::LiveFeed;
use crate::rules::{self, RuleInput};
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
    Router::new()
        .route("/v1/alert-rules", get(list_rules).post(create_rule))
        .route("/v1/alert-rules/{id}", get(one_rule).put(update_rule).delete(delete_rule))
        .route("/v1/alerts", get(list_alerts))
        .route("/v1/alerts/live", get(live))
        .route("/v1/alerts/{id}", get(one_alert))
        .route("/v1/alerts/{id}/best-shot", get(best_shot))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not {what} id (a UUID)")))
}

fn shown(rule: rules::AlertRule, role: Role) -> rules::AlertRule {
    if role == Role::Admin { rule } else { rule.masked() }
}

async fn list_rules(State(pool): State<PgPool>, caller: Caller<SeesPeople>) -> Result<Response, ApiError> {
    let rules: Vec<_> = rules::list(&pool).await?.into_iter().map(|r| shown(r, caller.role)).collect();
    Ok(Json(serde_json::json!({ "rules": rules })).into_response())
}

async fn one_rule(
    State(pool): State<PgPool>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rule = rules::get(&pool, parse_id(&id, "a rule")?).await?.ok_or_else(|| ApiError::not_found("no such rule"))?;
    Ok(Json(shown(rule, caller.role)).into_response())
}

/// The rule in `body`, checked: 400 naming what is wrong. A change of rule `id` whose webhook secret
/// is the masked one keeps the stored secret.
async fn checked_input(
    state: &ApiState,
    body: Result<Json<RuleInput>, JsonRejection>,
    id: Option<Uuid>,
) -> Result<RuleInput, ApiError> {
    let Json(mut input) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
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

async fn create_rule(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    body: Result<Json<RuleInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let input = checked_input(&state, body, None).await?;
    let rule = rules::save(&state.pool, None, &input)
        .await
        .map_err(|e| name_taken(e, &input.name))?
        .ok_or_else(|| ApiError::from(sqlx::Error::RowNotFound))?;
    Ok((StatusCode::CREATED, Json(shown(rule, caller.role))).into_response())
}

async fn update_rule(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
    body: Result<Json<RuleInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "a rule")?;
    let input = checked_input(&state, body, Some(id)).await?;
    let rule = rules::save(&state.pool, Some(id), &input)
        .await
        .map_err(|e| name_taken(e, &input.name))?
        .ok_or_else(|| ApiError::not_found("no such rule"))?;
    Ok(Json(shown(rule, caller.role)).into_response())
}

async fn delete_rule(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !rules::delete(&pool, parse_id(&id, "a rule")?).await? {
        return Err(ApiError::not_found("no such rule"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Filters of `GET /v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFilter {
    rule: Option<Uuid>,
    stream: Option<String>,
    person: Option<Uuid>,
    limit: Option<i64>,
}

/// Deliveries of alerts, as JSON per alert.
async fn deliveries_of(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT alert_id, json_agg(json_build_object('channel', channel, 'status', status, 'attempts', attempts, \
         'last_error', last_error, 'delivered_ms', (extract(epoch FROM delivered_at) * 1000)::bigint) \
         ORDER BY channel) FROM alert_deliveries WHERE alert_id = ANY($1) GROUP BY alert_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

async fn list_alerts(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    filter: Result<Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = filter.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
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
    let deliveries: std::collections::HashMap<Uuid, serde_json::Value> =
        deliveries_of(&pool, &ids).await?.into_iter().collect();
    let alerts: Vec<serde_json::Value> = alerts
        .into_iter()
        .map(|alert| {
            let mut value = serde_json::to_value(&alert).unwrap_or_default();
            value["deliveries"] = deliveries.get(&alert.id).cloned().unwrap_or_else(|| serde_json::json!([]));
            value
        })
        .collect();
    Ok(Json(serde_json::json!({ "alerts": alerts })).into_response())
}

/// One recorded attempt.
#[derive(Debug, serde::Serialize)]
struct AttemptRow {
    channel: String,
    attempt: i32,
    outcome: String,
    status_code: i32,
    error: String,
    duration_ms: i32,
    at_ms: i64,
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

async fn one_alert(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let alert = Alert::load(&pool, id).await?.ok_or_else(|| ApiError::not_found("no such alert"))?;
    let deliveries = deliveries_of(&pool, &[id]).await?.into_iter().next().map(|(_, d)| d);
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT channel, attempt, outcome, status_code, error, duration_ms, \
         (extract(epoch FROM at) * 1000)::bigint AS at_ms FROM alert_delivery_attempts WHERE alert_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await?;
    let mut value = serde_json::to_value(&alert).unwrap_or_default();
    value["deliveries"] = deliveries.unwrap_or_else(|| serde_json::json!([]));
    value["attempts"] = serde_json::to_value(attempts).unwrap_or_default();
    Ok(Json(value).into_response())
}

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

/// The token of `GET /v1/alerts/live`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    access_token: Option<String>,
}

async fn live(
    State(state): State<ApiState>,
    mut headers: HeaderMap,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    if let Some(token) = query.access_token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ApiError::bad_request("access_token is not a valid token"))?;
        headers.insert("authorization", value);
    }
    authorize(&state.pool, &Method::GET, &headers, Access::People, "alerts").await?;
    let stream = BroadcastStream::new(state.live.subscribe()).map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            Ok(document) => Event::default().event("alert").data(document),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))
            }
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}
