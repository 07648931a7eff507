//! The schedules REST API of the scheduler service.
//!
//! - `GET /v1/schedules`, `POST /v1/schedules` (`{"name", "cron", "tz", "format": "pdf"|"csv",
//!   "range_hours", "filters": {"site", "stream", "kind", "list", "person", "matched"},
//!   "recipients": [..], "enabled"}`);
//! - `GET /v1/schedules/{id}`, `DELETE /v1/schedules/{id}`;
//! - `POST /v1/schedules/{id}/run`: send it now; `GET /v1/schedules/{id}/deliveries`: the latest
//!   attempts (when, whether the relay accepted it, how many events, why not).
//!
//! Reads need analyst or above (schedules name their recipients); changes need admin or operator.
//! A schedule whose expression would run more often than the service's `min_interval_secs` is
//! refused (400). `tz` (an IANA name, default UTC) is the zone the expression runs in, across
//! daylight-saving changes, and the zone of the PDF's times. A run on demand is one mail per request and is not limited by it.
//! Errors are JSON `{"error": "..."}`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sightline_common::api::{ApiError, Caller, Manages, SeesPeople};
use sightline_common::clock::now_ms;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

use crate::schedule::NewSchedule;
use crate::store;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Schedules and deliveries.
    pub pool: PgPool,
    /// The shortest time allowed between two runs of a schedule.
    pub min_interval: Duration,
}

impl FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> Self {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/schedules", get(list).post(create))
        .route("/v1/schedules/{id}", get(one).delete(remove))
        .route("/v1/schedules/{id}/run", post(run_now))
        .route("/v1/schedules/{id}/deliveries", get(deliveries))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

fn schedule_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not a schedule id (a UUID)")))
}

async fn list(State(pool): State<PgPool>, _caller: Caller<SeesPeople>) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({ "schedules": store::list(&pool).await? })).into_response())
}

async fn create(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    body: Result<Json<NewSchedule>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(schedule) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let now = now_ms();
    let min_interval_ms = i64::try_from(state.min_interval.as_millis()).unwrap_or(i64::MAX);
    let first = schedule.validate(now, min_interval_ms).map_err(ApiError::bad_request)?;
    let created = store::create(&state.pool, &schedule, first)
        .await?
        .ok_or_else(|| ApiError::conflict(format!("a schedule named {:?} exists", schedule.name.trim())))?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn one(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schedule =
        store::get(&pool, schedule_id(&id)?).await?.ok_or_else(|| ApiError::not_found("no such schedule"))?;
    Ok(Json(schedule).into_response())
}

async fn remove(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !store::delete(&pool, schedule_id(&id)?).await? {
        return Err(ApiError::not_found("no such schedule"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn run_now(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !store::run_now(&pool, schedule_id(&id)?).await? {
        return Err(ApiError::not_found("no such schedule"));
    }
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "due now" }))).into_response())
}

async fn deliveries(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    store::get(&pool, id).await?.ok_or_else(|| ApiError::not_found("no such schedule"))?;
    Ok(Json(serde_json::json!({ "deliveries": store::deliveries(&pool, id, 100).await? })).into_response())
}
