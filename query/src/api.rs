//! The query REST API and the dashboard page.
//!
//! - `GET /v1/events?from&to&site&stream&kind&list&person&matched&limit&cursor`: events newest
//!   first, each with its watchlist matches and a best-shot link; `next_cursor` fetches the next page;
//! - `GET /v1/events/{id}`: one event; `GET /v1/events/{id}/best-shot`: its JPEG;
//! - `GET /v1/stats/timeline?from&to&site&stream&bucket`: events per bucket (minute, hour, day) and
//!   kind; `GET /v1/stats/streams?from&to`: per stream; `GET /v1/stats/persons?from&to&list&limit`:
//!   the most sighted watchlist persons;
//! - `GET /v1/reports/events.csv?<the filters of /v1/events>&limit`: every selected event as CSV,
//!   streamed (at most 5,000,000: a larger selection is a 400 unless `limit` takes the newest);
//!   `GET /v1/reports/summary.pdf?<the same>&limit`: a PDF for people: totals,
//!   streams, the most sighted persons and the latest `limit` events (default 50) with best shots;
//! - `GET /` (and `/dashboard`): the analysts' dashboard, a page that calls the above.
//!
//! Times are ms since the epoch or RFC 3339; the range defaults to the last 24 hours. Every `/v1`
//! request needs a bearer token: aggregates (timeline, streams) any role, anything that identifies
//! people (events, best shots, persons) any role but viewer. Errors are JSON `{"error": "..."}`: 400
//! for a bad parameter (named), 401/403, 404, and 503 when the warehouse does not answer.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sightline_common::api::{AnyRole, ApiError, Caller, SeesPeople};
use sightline_common::clock::now_ms;
use sightline_common::warehouse::WarehouseError;
use sqlx::PgPool;
use std::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::params::{
    DEFAULT_REPORT_EVENTS, EventsQuery, InvalidParam, MAX_EXPORT, MAX_REPORT_EVENTS, PersonsQuery, RangeQuery,
    TimelineQuery, format_time,
};
use crate::store::{EventRow, MatchRow, Warehouse, next_cursor};

/// The dashboard page.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Labels of the request metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Route template, e.g. `/v1/events/{id}`.
    pub endpoint: String,
    /// HTTP status class, e.g. `2xx`.
    pub status: String,
}

/// The API's metrics.
#[derive(Clone)]
pub struct QueryMetrics {
    /// Requests by endpoint and status class.
    pub requests: Family<EndpointLabels, Counter>,
    /// Warehouse query time, seconds.
    pub warehouse_seconds: Histogram,
}

impl QueryMetrics {
    /// Registers the metrics in `registry` (prefix `sightline_query`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            warehouse_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
        };
        let registry = registry.sub_registry_with_prefix("sightline_query");
        registry.register("requests", "API requests by endpoint and status class", metrics.requests.clone());
        registry.register("warehouse_seconds", "Time of warehouse queries", metrics.warehouse_seconds.clone());
        metrics
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// API tokens.
    pub pool: PgPool,
    /// The events.
    pub warehouse: Warehouse,
    /// Request metrics.
    pub metrics: QueryMetrics,
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes and the dashboard.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/dashboard", get(dashboard))
        .route("/v1/events", get(events))
        .route("/v1/events/{id}", get(event))
        .route("/v1/events/{id}/best-shot", get(best_shot))
        .route("/v1/stats/timeline", get(timeline))
        .route("/v1/stats/streams", get(streams))
        .route("/v1/stats/persons", get(persons))
        .route("/v1/reports/events.csv", get(events_csv))
        .route("/v1/reports/summary.pdf", get(summary_pdf))
        .route_layer(middleware::from_fn_with_state(state.metrics.clone(), count_requests))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// Counts every answer of a route by its path template (`/v1/events/{id}`) and status class.
async fn count_requests(State(metrics): State<QueryMetrics>, request: Request, next: Next) -> Response {
    let endpoint = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned()).unwrap_or_default();
    let response = next.run(request).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    metrics.requests.get_or_create(&EndpointLabels { endpoint, status }).inc();
    response
}

/// A parsed query string, or a 400 naming what is wrong (unknown or malformed parameters).
fn query_string<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

fn bad_param(error: InvalidParam) -> ApiError {
    ApiError::bad_request(error.to_string())
}

fn unavailable(error: WarehouseError) -> ApiError {
    tracing::error!(%error, "warehouse query failed");
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "the warehouse is not answering; try again".into())
}

fn event_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request(format!("{id:?} is not an event id (a UUID)")))
}

impl ApiState {
    /// Runs a warehouse read, timing it.
    async fn read<T>(&self, read: impl Future<Output = Result<T, WarehouseError>>) -> Result<T, ApiError> {
        let started = Instant::now();
        let result = read.await;
        self.metrics.warehouse_seconds.observe(started.elapsed().as_secs_f64());
        result.map_err(unavailable)
    }

    /// Events with their matches, as the API shows them.
    async fn with_matches(&self, rows: Vec<EventRow>) -> Result<Vec<EventView>, ApiError> {
        let mut matches = self.read(self.warehouse.matches_by_event(&rows)).await?;
        Ok(rows
            .into_iter()
            .map(|event| {
                let matches = matches.remove(&event.id).unwrap_or_default();
                EventView::new(event, matches)
            })
            .collect())
    }
}

/// An event as the API shows it: its columns, its capture time in RFC 3339, its best-shot link and
/// its matches.
#[derive(Debug, Serialize)]
pub struct EventView {
    #[serde(flatten)]
    event: EventRow,
    capture_time: String,
    best_shot_url: Option<String>,
    matches: Vec<MatchRow>,
}

impl EventView {
    fn new(event: EventRow, matches: Vec<MatchRow>) -> Self {
        Self {
            capture_time: format_time(event.capture_ms),
            best_shot_url: (event.has_best_shot != 0).then(|| format!("/v1/events/{}/best-shot", event.id)),
            matches,
            event,
        }
    }
}

/// One page of events.
#[derive(Debug, Serialize)]
struct EventsPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD_HTML)
}

async fn events(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let rows = state.read(state.warehouse.events(&request)).await?;
    let next_cursor = next_cursor(&rows, request.limit).map(|cursor| cursor.encode());
    let events = state.with_matches(rows).await?;
    Ok(Json(EventsPage { events, next_cursor }).into_response())
}

async fn event(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    let row = state.read(state.warehouse.event(id)).await?.ok_or_else(|| ApiError::not_found("no such event"))?;
    let mut views = state.with_matches(vec![row]).await?;
    Ok(Json(views.remove(0)).into_response())
}

async fn best_shot(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    let jpeg = state
        .read(state.warehouse.best_shot(id))
        .await?
        .ok_or_else(|| ApiError::not_found("no best shot for this event"))?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400")], jpeg)
        .into_response())
}

async fn timeline(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let buckets = state.read(state.warehouse.timeline(&request)).await?;
    Ok(Json(serde_json::json!({
        "from_ms": request.range.from_ms,
        "to_ms": request.range.to_ms,
        "bucket_ms": request.bucket_ms,
        "buckets": buckets,
    }))
    .into_response())
}

async fn streams(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let range = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let streams = state.read(state.warehouse.streams(&range)).await?;
    Ok(Json(serde_json::json!({ "from_ms": range.from_ms, "to_ms": range.to_ms, "streams": streams })).into_response())
}

async fn persons(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<PersonsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let persons = state.read(state.warehouse.persons(&request)).await?;
    Ok(Json(serde_json::json!({
        "from_ms": request.range.from_ms,
        "to_ms": request.range.to_ms,
        "persons": persons,
    }))
    .into_response())
}

/// A download: `bytes` of `content_type`, saved as `filename`.
fn attachment(content_type: &'static str, filename: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// Rows per chunk of a streamed CSV (each chunk reads its events' matches in one query).
const CSV_CHUNK_ROWS: usize = 2_000;

async fn events_csv(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let export = query_string(query)?.validate_export(now_ms()).map_err(bad_param)?;
    let mut request = export.events;
    if !export.limited {
        // Every selected event, or a 400 saying the selection is too large: never a silent cut.
        request.limit = MAX_EXPORT.saturating_add(1);
        let count = state.read(state.warehouse.export_count(&request)).await?;
        if count > u64::from(MAX_EXPORT) {
            return Err(ApiError::bad_request(format!(
                "the selection holds more than {MAX_EXPORT} events, the most one export may; narrow the time \
                 range or the filters, or pass limit to take the newest"
            )));
        }
        request.limit = MAX_EXPORT;
    }
    let cursor = state.warehouse.export(&request).map_err(unavailable)?;
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(stream_csv(state.warehouse.clone(), cursor, sender));
    let disposition = "attachment; filename=\"sightline-events.csv\"";
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(ReceiverStream::new(receiver)),
    )
        .into_response())
}

/// Writes the CSV of the events `cursor` streams into `sender`, chunk by chunk, each with its
/// events' matches: memory stays at one chunk whatever the export's size. An error ends the body
/// with an error (the download fails rather than looking complete).
async fn stream_csv(
    warehouse: Warehouse,
    mut cursor: clickhouse::query::RowCursor<EventRow>,
    sender: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let result: anyhow::Result<()> = async {
        if sender.send(Ok(sightline_exporter::csv_header()?)).await.is_err() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(CSV_CHUNK_ROWS);
        loop {
            let next = cursor.next().await?;
            let done = next.is_none();
            rows.extend(next);
            if rows.len() == CSV_CHUNK_ROWS || (done && !rows.is_empty()) {
                let mut matches = warehouse.matches_by_event(&rows).await?;
                let records: Vec<_> = rows
                    .drain(..)
                    .map(|row| {
                        let event_matches = matches.remove(&row.id).unwrap_or_default();
                        crate::reports::event_record(row, event_matches, None)
                    })
                    .collect();
                if sender.send(Ok(sightline_exporter::csv_rows(&records)?)).await.is_err() {
                    return Ok(()); // The client went away.
                }
            }
            if done {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(error) = result {
        tracing::error!(error = format!("{error:#}"), "streaming a CSV export failed");
        let _ = sender.send(Err(std::io::Error::other(format!("{error:#}")))).await;
    }
}

async fn summary_pdf(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let request =
        query_string(query)?.validate_limited(now, DEFAULT_REPORT_EVENTS, MAX_REPORT_EVENTS).map_err(bad_param)?;
    let report = state.read(crate::reports::summary(&state.warehouse, &request, "Sightline report", now)).await?;
    let pdf = tokio::task::spawn_blocking(move || sightline_exporter::report_pdf(&report)).await.map_err(|error| {
        tracing::error!(%error, "rendering PDF");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "rendering the PDF failed".into())
    })?;
    Ok(attachment("application/pdf", "sightline-report.pdf", pdf))
}
