//! The alert desk: alerts paged and filtered, each with its deliveries, what was done about it and by
//! whom, and the steps the person on duty takes.
//!
//! - `GET /v1/alerts?from&to&stream&site&list&person&rule&state&q&cursor&limit`: alerts newest first,
//!   how many the filters select, and the cursor of the next page;
//! - `GET /v1/alerts/counts`: alerts per state (the menu's unread count is the `new` ones);
//! - `GET /v1/alerts/{id}`: one alert with its deliveries, every attempt, every action and its scene
//!   (the camera's frame when it was raised, [`crate::scene`]; `GET /v1/alerts/{id}/scene`);
//! - `POST /v1/alerts/{id}/actions` (`{"action": "acknowledge" | "resolve" | "reopen", "note"}`);
//! - `POST /v1/alerts/{id}/deliveries/{channel}/retry`: a failed delivery sent once more.
//!
//! A step is refused with 409 when the alert is not where the step starts (a colleague took it on
//! first), naming who moved it. Every step is announced on the live feed (`event: changed`) so every
//! desk shows it at once.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sightline_common::api::{ApiError, Caller, SeesPeople};
use sightline_common::audit;
use sqlx::PgPool;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::alert::{ALERT_COLUMNS, Alert};
use crate::images::AlertImages;
use crate::live::ALERTS_CHANNEL;

/// The prefix of a `sightline_alerts` notification that says an alert changed state (the payload of
/// a new alert is its bare id).
pub const CHANGED_PREFIX: &str = "changed:";

/// The longest note, in bytes.
const NOTE_MAX_BYTES: usize = 2000;

pub(crate) fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not {what} id (a UUID)")))
}

/// Filters of `GET /v1/alerts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    /// Raised at or after, ms since the epoch.
    from: Option<i64>,
    /// Raised before, ms since the epoch.
    to: Option<i64>,
    /// Only alerts on this stream.
    stream: Option<String>,
    /// Only alerts on this site.
    site: Option<String>,
    /// Only alerts on this watchlist.
    list: Option<Uuid>,
    /// Only alerts about this person.
    person: Option<Uuid>,
    /// Only alerts of this rule.
    rule: Option<Uuid>,
    /// `new`, `acknowledged`, `resolved`, or `open` (new or acknowledged).
    state: Option<String>,
    /// Part of the person's name or external id, or of the note (case-insensitive).
    q: Option<String>,
    /// The page after this alert (`next` of the previous page).
    cursor: Option<Uuid>,
    /// The most alerts, 1 to 1000; default 100.
    limit: Option<i64>,
}

impl AlertFilter {
    /// The states `state` selects; 400 naming an unknown one.
    fn states(&self) -> Result<Option<Vec<String>>, ApiError> {
        let Some(state) = self.state.as_deref() else { return Ok(None) };
        let states: &[&str] = match state {
            "new" | "acknowledged" | "resolved" => &[state],
            "open" => &["new", "acknowledged"],
            other => {
                return Err(ApiError::bad_request(format!(
                    "state {other:?} is not one of new, acknowledged, resolved, open"
                )));
            }
        };
        Ok(Some(states.iter().map(|s| (*s).to_owned()).collect()))
    }
}

/// The filters' condition on `alerts a`, parameters $1 to $9 in [`bind_filter`]'s order.
const FILTER_CONDITION: &str = "($1::bigint IS NULL OR a.raised_at >= to_timestamp($1::double precision / 1000)) \
     AND ($2::bigint IS NULL OR a.raised_at < to_timestamp($2::double precision / 1000)) \
     AND ($3::text IS NULL OR a.stream_id = $3) AND ($4::text IS NULL OR a.site = $4) \
     AND ($5::uuid IS NULL OR a.list_id = $5) AND ($6::uuid IS NULL OR a.person_id = $6) \
     AND ($7::uuid IS NULL OR a.rule_id = $7) AND ($8::text[] IS NULL OR a.state = ANY($8)) \
     AND ($9::text IS NULL OR a.person_display_name ILIKE $9 OR a.person_external_id ILIKE $9 OR a.note ILIKE $9)";

fn bind_filter<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    filter: &'q AlertFilter,
    states: Option<Vec<String>>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let pattern =
        filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(sightline_common::api::contains_pattern);
    query
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.stream.as_deref())
        .bind(filter.site.as_deref())
        .bind(filter.list)
        .bind(filter.person)
        .bind(filter.rule)
        .bind(states)
        .bind(pattern)
}

/// Where an alert went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
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
pub struct AlertView {
    /// The alert.
    #[serde(flatten)]
    alert: Alert,
    /// Its deliveries, by channel.
    deliveries: Vec<Delivery>,
}

/// A page of alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alerts {
    /// Newest first.
    alerts: Vec<AlertView>,
    /// How many alerts the filters select, on every page.
    total: i64,
    /// The cursor of the next (older) page; null on the last.
    next: Option<Uuid>,
}

/// Deliveries of alerts, per alert.
async fn deliveries_of(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<Delivery>>, sqlx::Error> {
    let rows: Vec<(Uuid, sqlx::types::Json<Vec<Delivery>>)> = sqlx::query_as(
        "SELECT alert_id, json_agg(json_build_object('channel', channel, 'status', status, 'attempts', attempts, \
         'last_error', last_error, 'delivered_ms', (extract(epoch FROM delivered_at) * 1000)::bigint) \
         ORDER BY channel) FROM alert_deliveries WHERE alert_id = ANY($1) GROUP BY alert_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, deliveries)| (id, deliveries.0)).collect())
}

/// `alerts` with their deliveries.
async fn with_deliveries(pool: &PgPool, alerts: Vec<Alert>) -> Result<Vec<AlertView>, sqlx::Error> {
    let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
    let mut deliveries = deliveries_of(pool, &ids).await?;
    Ok(alerts
        .into_iter()
        .map(|alert| AlertView { deliveries: deliveries.remove(&alert.id).unwrap_or_default(), alert })
        .collect())
}

/// Alerts newest first, paged, each with its deliveries, and how many the filters select (analysts
/// and up).
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertFilter), responses((status = 200, body = Alerts)))]
pub async fn list_alerts(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Json<Alerts>, ApiError> {
    let Query(filter) = filter.map_err(ApiError::invalid_query)?;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is outside 1..=1000")));
    }
    let states = filter.states()?;
    sightline_common::api::check_text("q", filter.q.as_deref().unwrap_or_default(), 200)
        .map_err(ApiError::bad_request)?;
    // One more than asked: whether a next page exists.
    let page = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE {FILTER_CONDITION} \
         AND ($10::uuid IS NULL OR (a.raised_at, a.id) < (SELECT raised_at, id FROM alerts WHERE id = $10)) \
         ORDER BY a.raised_at DESC, a.id DESC LIMIT $11"
    );
    let mut alerts: Vec<Alert> = bind_filter(sqlx::query_as(&page), &filter, states.clone())
        .bind(filter.cursor)
        .bind(limit + 1)
        .fetch_all(&pool)
        .await?;
    let next = if alerts.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        alerts.truncate(alerts.len() - 1);
        alerts.last().map(|alert| alert.id)
    } else {
        None
    };
    let count = format!("SELECT count(*) FROM alerts a WHERE {FILTER_CONDITION}");
    let (total,): (i64,) = bind_filter(sqlx::query_as(&count), &filter, states).fetch_one(&pool).await?;
    Ok(Json(Alerts { alerts: with_deliveries(&pool, alerts).await?, total, next }))
}

/// Alerts per state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertCounts {
    /// Not acknowledged yet: the menu's unread count.
    new: i64,
    /// Acknowledged, not resolved.
    acknowledged: i64,
}

/// How many alerts are new (no one took them on) and acknowledged (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/counts", tag = "alerts", responses((status = 200, body = AlertCounts)))]
pub async fn alert_counts(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
) -> Result<Json<AlertCounts>, ApiError> {
    let (new, acknowledged): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM alerts WHERE state = 'new'), (SELECT count(*) FROM alerts WHERE state = 'acknowledged')",
    )
    .fetch_one(&pool)
    .await?;
    Ok(Json(AlertCounts { new, acknowledged }))
}

/// One recorded attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptRow {
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

/// One step taken on an alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionRow {
    /// `acknowledged`, `resolved`, `reopened` or `retried`.
    action: String,
    /// The note (for `retried`, the channel).
    note: String,
    /// Who (a username or a token's name).
    by: String,
    /// When, ms since the epoch.
    at_ms: i64,
}

/// An alert with its deliveries, every attempt and every step taken on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    /// The alert and its deliveries.
    #[serde(flatten)]
    view: AlertView,
    /// Every delivery attempt, oldest first.
    attempts: Vec<AttemptRow>,
    /// Every step taken on it, oldest first.
    actions: Vec<ActionRow>,
    /// The camera's frame when it was raised, with every box in it (the JPEG at
    /// `GET /v1/alerts/{id}/scene`); null when none was kept.
    scene: Option<crate::scene::SceneView>,
}

/// The alert `id` with its deliveries, attempts and actions; 404 if there is none.
async fn detail(pool: &PgPool, id: Uuid) -> Result<AlertDetail, ApiError> {
    let alert = Alert::load(pool, id).await?.ok_or_else(|| ApiError::not_found("no such alert"))?;
    let view = with_deliveries(pool, vec![alert]).await?.remove(0);
    let attempts = sqlx::query_as::<_, (String, i32, String, i32, String, i32, i64)>(
        "SELECT channel, attempt, outcome, status_code, error, duration_ms, \
         (extract(epoch FROM at) * 1000)::bigint FROM alert_delivery_attempts WHERE alert_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(channel, attempt, outcome, status_code, error, duration_ms, at_ms)| AttemptRow {
        channel,
        attempt,
        outcome,
        status_code,
        error,
        duration_ms,
        at_ms,
    })
    .collect();
    let actions = sqlx::query_as::<_, (String, String, String, i64)>(
        "SELECT action, note, by_name, (extract(epoch FROM at) * 1000)::bigint \
         FROM alert_actions WHERE alert_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(action, note, by, at_ms)| ActionRow { action, note, by, at_ms })
    .collect();
    let scene = crate::scene::scene_of(pool, id).await?;
    Ok(AlertDetail { view, attempts, actions, scene })
}

/// One alert with its deliveries, every delivery attempt and every step taken on it (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")), responses((status = 200, body = AlertDetail)))]
pub async fn one_alert(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    Ok(Json(detail(&pool, parse_id(&id, "an alert")?).await?))
}

/// The best shot of the report that raised an alert, JPEG, when `has_best_shot` (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/{id}/best-shot", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the best shot")))]
pub async fn best_shot(
    State(pool): State<PgPool>,
    State(images): State<AlertImages>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let jpeg =
        images.best_shot(&pool, id).await?.ok_or_else(|| ApiError::not_found("no best shot of such an alert"))?;
    audit::record_view(&pool, &caller.principal, "notifier", "image.alert_best_shot", id.to_string()).await?;
    Ok(sightline_common::api::jpeg(jpeg, "private, max-age=3600"))
}

/// The camera's frame when the alert was raised, JPEG, when its `scene` was kept (analysts and up).
#[utoipa::path(get, path = "/v1/alerts/{id}/scene", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the frame")))]
pub async fn scene(
    State(pool): State<PgPool>,
    State(images): State<AlertImages>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let jpeg =
        images.scene(&pool, id).await?.ok_or_else(|| ApiError::not_found("no scene was kept of such an alert"))?;
    audit::record_view(&pool, &caller.principal, "notifier", "image.alert_scene", id.to_string()).await?;
    Ok(sightline_common::api::jpeg(jpeg, "private, max-age=3600"))
}

/// A step on the desk.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// "I am on it": a new alert becomes acknowledged.
    Acknowledge,
    /// Done, with a note saying what was found or done: a new or acknowledged alert becomes resolved.
    Resolve,
    /// Back to new (taken on by mistake, or it needs another look).
    Reopen,
}

impl Step {
    /// The states the step starts from, the state it leads to, and its name in the log.
    fn transition(self) -> (&'static [&'static str], &'static str, &'static str) {
        match self {
            Step::Acknowledge => (&["new"], "acknowledged", "acknowledged"),
            Step::Resolve => (&["new", "acknowledged"], "resolved", "resolved"),
            Step::Reopen => (&["acknowledged", "resolved"], "new", "reopened"),
        }
    }
}

/// `POST /v1/alerts/{id}/actions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// `acknowledge`, `resolve` or `reopen`.
    action: Step,
    /// What the person on duty found or did; needed to resolve; at most 2000 bytes.
    #[serde(default)]
    note: String,
}

/// Records step `action` (with `note`) on alert `id` by `by` in the log, and tells every desk.
async fn log_step(
    transaction: &mut sqlx::PgConnection,
    id: Uuid,
    action: &str,
    note: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO alert_actions (alert_id, action, note, by_name) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(action)
        .bind(note)
        .bind(by)
        .execute(&mut *transaction)
        .await?;
    // Sent when the transaction commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(ALERTS_CHANNEL)
        .bind(format!("{CHANGED_PREFIX}{id}"))
        .execute(&mut *transaction)
        .await?;
    Ok(())
}

/// Acknowledges, resolves (with a note) or reopens an alert, as the caller; every desk sees it at
/// once (analysts and up). 409 when the alert is not in a state the step starts from.
#[utoipa::path(post, path = "/v1/alerts/{id}/actions", tag = "alerts", params(("id" = Uuid, Path, description = "The alert.")),
    request_body = ActionInput,
    responses((status = 200, body = AlertDetail), (status = 409, body = sightline_common::openapi::ErrorBody, description = "the alert is not in a state the step starts from")))]
pub async fn take_action(
    State(pool): State<PgPool>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
    body: Result<Json<ActionInput>, JsonRejection>,
) -> Result<Json<AlertDetail>, ApiError> {
    let id = parse_id(&id, "an alert")?;
    let Json(input) = body.map_err(ApiError::invalid_json)?;
    let note = input.note.trim();
    sightline_common::api::check_text("note", note, NOTE_MAX_BYTES).map_err(ApiError::bad_request)?;
    if matches!(input.action, Step::Resolve) && note.is_empty() {
        return Err(ApiError::bad_request("note: say what was found or done to resolve the alert"));
    }
    let (from, to, logged) = input.action.transition();
    let mut transaction = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE alerts SET state = $2, handled_by = $3, handled_at = now(), note = $4 WHERE id = $1 AND state = ANY($5)",
    )
    .bind(id)
    .bind(to)
    .bind(&caller.principal.name)
    .bind(note)
    .bind(from)
    .execute(&mut *transaction)
    .await?
    .rows_affected();
    if moved == 0 {
        let now: Option<(String, String)> = sqlx::query_as("SELECT state, handled_by FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await?;
        return Err(match now {
            None => ApiError::not_found("no such alert"),
            Some((state, by)) => ApiError::conflict(format!(
                "the alert is {state}{}; only {} alert can be {logged}",
                if by.is_empty() { String::new() } else { format!(" (by {by})") },
                from.iter().map(|s| format!("a {s}")).collect::<Vec<_>>().join(" or "),
            )),
        });
    }
    log_step(&mut transaction, id, logged, note, &caller.principal.name).await?;
    transaction.commit().await?;
    tracing::info!(alert = %id, action = logged, by = %caller.principal.name, "alert handled");
    Ok(Json(detail(&pool, id).await?))
}

/// Sends a failed delivery of an alert once more, now (analysts and up): one more attempt, recorded
/// like the others. 409 unless the delivery failed (it is pending or was delivered), or for the live
/// feed (it is live only).
#[utoipa::path(post, path = "/v1/alerts/{id}/deliveries/{channel}/retry", tag = "alerts",
    params(("id" = Uuid, Path, description = "The alert."), ("channel" = String, Path, description = "`webhook`, `email` or `kafka`.")),
    responses((status = 202, body = AlertDetail, description = "due again now"), (status = 409, body = sightline_common::openapi::ErrorBody, description = "the delivery did not fail")))]
pub async fn retry_delivery(
    State(pool): State<PgPool>,
    caller: Caller<SeesPeople>,
    Path((id, channel)): Path<(String, String)>,
) -> Result<(StatusCode, Json<AlertDetail>), ApiError> {
    let id = parse_id(&id, "an alert")?;
    if channel == "live" {
        return Err(ApiError::conflict("the live feed is live only: a missed alert is in the list, not sent again"));
    }
    let mut transaction = pool.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM alert_deliveries WHERE alert_id = $1 AND channel = $2 FOR UPDATE")
            .bind(id)
            .bind(&channel)
            .fetch_optional(&mut *transaction)
            .await?;
    match status.as_deref() {
        None => return Err(ApiError::not_found(format!("the alert has no {channel} delivery"))),
        Some("failed") => {}
        Some(other) => {
            return Err(ApiError::conflict(format!(
                "the {channel} delivery is {other}; only a failed one is sent again"
            )));
        }
    }
    sqlx::query("UPDATE alert_deliveries SET status = 'pending', due_at = now() WHERE alert_id = $1 AND channel = $2")
        .bind(id)
        .bind(&channel)
        .execute(&mut *transaction)
        .await?;
    log_step(&mut transaction, id, "retried", &channel, &caller.principal.name).await?;
    transaction.commit().await?;
    tracing::info!(alert = %id, %channel, by = %caller.principal.name, "failed delivery sent again");
    Ok((StatusCode::ACCEPTED, Json(detail(&pool, id).await?)))
}
