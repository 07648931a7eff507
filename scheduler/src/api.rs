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
use axum::{Json, Router};
use serde::Serialize;
use sightline_common::api::{ApiError, Caller, Manages, SeesPeople};
use sightline_common::clock::now_ms;
use sightline_common::openapi::{self, ErrorBody};
use sqlx::PgPool;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::schedule::NewSchedule;
use crate::store::{self, Delivery, Schedule};

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
    let (router, _) = routes().with_state(state).split_for_parts();
    router.merge(openapi::route(&openapi())).fallback(|| async { ApiError::not_found("no such route") })
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, remove))
        .routes(routes!(run_now))
        .routes(routes!(deliveries))
}

/// The API's OpenAPI document (`GET /openapi.json`, kept in `schemas/openapi/scheduler.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(
        routes().into_openapi(),
        "Sightline report schedules API",
        "Reports mailed on a schedule: a cron expression in a time zone, the report (PDF or CSV) and its \
         filters, the recipients, and each delivery. Reading needs an analyst or above (schedules name their \
         recipients); changes need an operator or admin. A schedule that would run more often than the \
         service allows is refused.",
    )
}

fn schedule_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not a schedule id (a UUID)")))
}

/// The schedules.
#[derive(Debug, Serialize, ToSchema)]
struct Schedules {
    /// By name.
    schedules: Vec<Schedule>,
}

/// Lists the schedules with their next run (analysts and up).
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", responses((status = 200, body = Schedules)))]
async fn list(State(pool): State<PgPool>, _caller: Caller<SeesPeople>) -> Result<Json<Schedules>, ApiError> {
    Ok(Json(Schedules { schedules: store::list(&pool).await? }))
}

/// Creates a schedule (operators and admins).
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = Schedule), (status = 409, body = ErrorBody, description = "the name is taken")))]
async fn create(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    body: Result<Json<NewSchedule>, JsonRejection>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let Json(schedule) = body.map_err(ApiError::invalid_json)?;
    let now = now_ms();
    let min_interval_ms = i64::try_from(state.min_interval.as_millis()).unwrap_or(i64::MAX);
    let first = schedule.validate(now, min_interval_ms).map_err(ApiError::bad_request)?;
    let created = store::create(&state.pool, &schedule, first)
        .await?
        .ok_or_else(|| ApiError::conflict(format!("a schedule named {:?} exists", schedule.name.trim())))?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One schedule with its next run (analysts and up).
#[utoipa::path(get, path = "/v1/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path, description = "The schedule.")), responses((status = 200, body = Schedule)))]
async fn one(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    let schedule =
        store::get(&pool, schedule_id(&id)?).await?.ok_or_else(|| ApiError::not_found("no such schedule"))?;
    Ok(Json(schedule))
}

/// Deletes a schedule with its deliveries (operators and admins).
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules", params(("id" = Uuid, Path, description = "The schedule.")), responses((status = 204, description = "deleted")))]
async fn remove(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !store::delete(&pool, schedule_id(&id)?).await? {
        return Err(ApiError::not_found("no such schedule"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A run asked for.
#[derive(Debug, Serialize, ToSchema)]
struct RunQueued {
    /// `due now`: the scheduler sends it within seconds.
    status: String,
}

/// Sends the report now, once (operators and admins).
#[utoipa::path(post, path = "/v1/schedules/{id}/run", tag = "schedules", params(("id" = Uuid, Path, description = "The schedule.")), responses((status = 202, body = RunQueued)))]
async fn run_now(
    State(pool): State<PgPool>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunQueued>), ApiError> {
    if !store::run_now(&pool, schedule_id(&id)?).await? {
        return Err(ApiError::not_found("no such schedule"));
    }
    Ok((StatusCode::ACCEPTED, Json(RunQueued { status: "due now".to_owned() })))
}

/// A schedule's deliveries.
#[derive(Debug, Serialize, ToSchema)]
struct Deliveries {
    /// The latest 100 attempts, newest first.
    deliveries: Vec<Delivery>,
}

/// The latest attempts to send a schedule's report: when, whether the relay took it, how many
/// events, why not (analysts and up).
#[utoipa::path(get, path = "/v1/schedules/{id}/deliveries", tag = "schedules", params(("id" = Uuid, Path, description = "The schedule.")), responses((status = 200, body = Deliveries)))]
async fn deliveries(
    State(pool): State<PgPool>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<Deliveries>, ApiError> {
    let id = schedule_id(&id)?;
    store::get(&pool, id).await?.ok_or_else(|| ApiError::not_found("no such schedule"))?;
    Ok(Json(Deliveries { deliveries: store::deliveries(&pool, id, 100).await? }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_openapi_document_is_the_one_the_code_generates() {
        if let Err(difference) = sightline_common::openapi::check_kept(&super::openapi(), "scheduler") {
            panic!("{difference}");
        }
    }
}
