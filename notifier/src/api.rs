//! The notifier's REST API.
//!
//! - `GET /v1/alert-rules`, `POST /v1/alert-rules` (`{"name", "list_ids", "stream_ids", "sites",
//!   "min_similarity", "cooldown_secs", "channels": {"webhook": {"url", "secret"}, "email": {"to"},
//!   "live", "kafka"}, "enabled"}`); `GET`, `PUT`, `DELETE /v1/alert-rules/{id}`;
//! - the alert desk ([`crate::desk`]): alerts paged and filtered with their deliveries, counts per
//!   state, one alert with its attempts and actions, its best shot, acknowledging, resolving and
//!   reopening it, and sending a failed delivery again;
//! - `GET /v1/alerts/live`: the live feed, Server-Sent Events (`event: alert`, data: the alert's JSON
//!   document, as webhooks receive it; `event: changed` when an alert is acknowledged, resolved,
//!   reopened or a delivery sent again), ended (`event: ended`) within a second of its token's or
//!   session's end; `POST /v1/alerts/live/ticket`: a single-use ticket for `?ticket=`, for an
//!   `EventSource` that cannot send headers (a token in a URL would stay in proxies' logs).
//!
//! Reads and desk steps need analyst or above (alerts name people); rule changes need admin or operator. Webhook
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

use crate::alert::AlertDocument;
use crate::desk::{self, parse_id};
use crate::images::AlertImages;
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
    /// Alerts' best shots and scenes.
    pub images: AlertImages,
}

impl FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> Self {
        state.pool.clone()
    }
}

impl FromRef<ApiState> for AlertImages {
    fn from_ref(state: &ApiState) -> Self {
        state.images.clone()
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
        .routes(routes!(desk::list_alerts))
        .routes(routes!(desk::alert_counts))
        .routes(routes!(live))
        .routes(routes!(live_ticket))
        .routes(routes!(desk::one_alert))
        .routes(routes!(desk::best_shot))
        .routes(routes!(desk::scene))
        .routes(routes!(desk::take_action))
        .routes(routes!(desk::retry_delivery))
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
/// (`AlertDocument`); `event: changed` (`{"alert_id", "state", "handled_by", "handled_ms", "note"}`)
/// when someone acknowledges, resolves or reopens an alert or sends a delivery again; `event: lagged` (`{"missed": n}`) says a slow reader missed some. Comments
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
            FeedItem::Changed(state) => Event::default().event("changed").data(state),
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
