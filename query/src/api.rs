//! The query REST API (the web app, `web/`, is its browser front end).
//!
//! - `GET /v1/events?from&to&site&stream&kind&list&person&matched&limit&cursor`: events newest
//!   first, each with its watchlist matches and a best-shot link; `next_cursor` fetches the next page;
//! - `GET /v1/events/{id}`: one event; `GET /v1/events/{id}/best-shot`: its JPEG;
//! - `GET /v1/stats/timeline?from&to&site&stream&bucket`: events per bucket (minute, hour, day) and
//!   kind; `GET /v1/stats/streams?from&to`: per stream; `GET /v1/stats/persons?from&to&list&limit`:
//!   the most sighted watchlist persons;
//! - `GET /v1/stats/identified?from&to&site&tz`: unique identified persons and identified tracks per
//!   day (from midnight in `tz`, default UTC) and site; `GET /v1/stats/dwell?from&to&site&stream&kind`:
//!   how long tracks stayed in view (mean, percentiles, histogram);
//!   `GET /v1/stats/heatmap?from&to&site&stream&kind&tz`: arrivals by day of the week and hour;
//!   `GET /v1/stats/visits?from&to&site&list&person&gap_minutes&limit`: each identified person's
//!   visits, tracks and dwell per site (sightings closer than the gap, default 30 minutes, are one
//!   visit). Every count is of tracks, each once;
//! - `GET /v1/reports/events.csv?<the filters of /v1/events>&limit`: every selected event as CSV,
//!   streamed (at most 5,000,000: a larger selection is a 400 unless `limit` takes the newest);
//!   `GET /v1/reports/summary.pdf?<the same>&limit`: a PDF for people: totals,
//!   streams, the most sighted persons and the latest `limit` events (default 50) with best shots;
//! - `POST /v1/search/faces?from&to&site&stream&threshold&limit` with a photo (JPEG or PNG) as the
//!   body, or `?event=<id>` and no body for that event's face: the tracks where the face was seen,
//!   most similar first, each with its best-matching report and best-shot link; every search is
//!   recorded first (`face_search_audit`), and admins read the records with
//!   `GET /v1/audit/face-searches?from&to&limit`;
//!
//! Times are ms since the epoch or RFC 3339; the range defaults to the last 24 hours. Every `/v1`
//! request needs a bearer token: aggregates (timeline, streams) any role, anything that identifies
//! people (events, best shots, persons) any role but viewer. Errors are JSON `{"error": "..."}`: 400
//! for a bad parameter (named), 401/403, 404, and 503 when the warehouse does not answer.

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sightline_common::accounts::AccountSettings;
use sightline_common::api::{AnyRole, ApiError, Audits, Caller, SeesPeople};
use sightline_common::clock::now_ms;
use sightline_common::warehouse::WarehouseError;
use sightline_exporter::{PdfFonts, ReportClock};
use sightline_vision::descriptor::{MODEL_NAME, MODEL_VERSION};
use sightline_vision::photo::{PhotoDescriber, PhotoError};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::audit::{self, SearchedFace};
use crate::params::{
    AuditQuery, BreakdownQuery, DEFAULT_REPORT_EVENTS, EventsQuery, FaceSearchQuery, IdentifiedQuery, InvalidParam,
    MAX_EXPORT, MAX_REPORT_EVENTS, PersonsQuery, RangeQuery, TimelineQuery, VisitsQuery, format_time,
};
use crate::store::{DWELL_BINS_MS, EventRow, Face, FaceSearchRow, MatchRow, Warehouse, next_cursor};

/// Largest photo a face search accepts.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

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
    /// API tokens, users and sessions.
    pub pool: PgPool,
    /// The events.
    pub warehouse: Warehouse,
    /// Request metrics.
    pub metrics: QueryMetrics,
    /// Describes the face of a search photo; `None` when the service runs without the face models
    /// (searches by an event's face still work).
    pub photos: Option<Arc<PhotoDescriber>>,
    /// The fonts summary PDFs are set in.
    pub fonts: PdfFonts,
    /// Sessions and login throttling ([`sightline_common::accounts_api`] is served here).
    pub accounts: AccountSettings,
}

impl axum::extract::FromRef<ApiState> for AccountSettings {
    fn from_ref(state: &ApiState) -> AccountSettings {
        state.accounts.clone()
    }
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/events", get(events))
        .route("/v1/events/{id}", get(event))
        .route("/v1/events/{id}/best-shot", get(best_shot))
        .route("/v1/stats/timeline", get(timeline))
        .route("/v1/stats/streams", get(streams))
        .route("/v1/stats/persons", get(persons))
        .route("/v1/stats/identified", get(identified))
        .route("/v1/stats/dwell", get(dwell))
        .route("/v1/stats/heatmap", get(heatmap))
        .route("/v1/stats/visits", get(visits))
        .route("/v1/reports/events.csv", get(events_csv))
        .route("/v1/reports/summary.pdf", get(summary_pdf))
        .route("/v1/search/faces", post(search_faces).layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES)))
        .route("/v1/audit/face-searches", get(face_search_audit))
        .merge(sightline_common::accounts_api::router())
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

    /// A 400 naming `tz` unless ClickHouse knows the time zone.
    async fn known_time_zone(&self, zone: &str) -> Result<(), ApiError> {
        if self.read(self.warehouse.knows_time_zone(zone)).await? {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!("tz: {zone:?} is not a known time zone")))
        }
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
    Ok(sightline_common::api::jpeg(jpeg, "private, max-age=86400"))
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

async fn identified(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<IdentifiedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (range, site, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    state.known_time_zone(&zone).await?;
    let days = state.read(state.warehouse.identified(&range, &site, &zone)).await?;
    Ok(Json(serde_json::json!({ "from_ms": range.from_ms, "to_ms": range.to_ms, "tz": zone, "days": days }))
        .into_response())
}

async fn dwell(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<BreakdownQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (scope, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    if zone != "UTC" {
        return Err(ApiError::bad_request("tz: dwell does not depend on a time zone"));
    }
    let dwell = state.read(state.warehouse.dwell(&scope)).await?;
    let bins: Vec<serde_json::Value> = dwell
        .histogram
        .iter()
        .enumerate()
        .map(|(i, tracks)| {
            let from_ms = if i == 0 { 0 } else { DWELL_BINS_MS[i - 1] };
            serde_json::json!({ "from_ms": from_ms, "to_ms": DWELL_BINS_MS.get(i), "tracks": tracks })
        })
        .collect();
    let percentile = |i: usize| dwell.percentiles_ms.get(i).copied().filter(|_| dwell.tracks > 0);
    Ok(Json(serde_json::json!({
        "from_ms": scope.range.from_ms,
        "to_ms": scope.range.to_ms,
        "tracks": dwell.tracks,
        "mean_ms": dwell.mean_ms,
        "p50_ms": percentile(0),
        "p90_ms": percentile(1),
        "p99_ms": percentile(2),
        "histogram": bins,
    }))
    .into_response())
}

async fn heatmap(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<BreakdownQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (scope, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    state.known_time_zone(&zone).await?;
    let cells = state.read(state.warehouse.heatmap(&scope, &zone)).await?;
    Ok(Json(serde_json::json!({
        "from_ms": scope.range.from_ms,
        "to_ms": scope.range.to_ms,
        "tz": zone,
        "cells": cells,
    }))
    .into_response())
}

async fn visits(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<VisitsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let persons = state.read(state.warehouse.visits(&request)).await?;
    Ok(Json(serde_json::json!({
        "from_ms": request.range.from_ms,
        "to_ms": request.range.to_ms,
        "gap_ms": request.gap_ms,
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
    let (request, zone) =
        query_string(query)?.validate_report(now, DEFAULT_REPORT_EVENTS, MAX_REPORT_EVENTS).map_err(bad_param)?;
    let clock = ReportClock::named(&zone).map_err(|error| ApiError::bad_request(format!("tz: {error}")))?;
    state.known_time_zone(&zone).await?;
    let mut report =
        state.read(crate::reports::summary(&state.warehouse, &request, "Sightline report", now, clock)).await?;
    crate::reports::name_streams(&state.pool, &mut report).await?;
    let fonts = state.fonts.clone();
    let pdf = tokio::task::spawn_blocking(move || sightline_exporter::report_pdf(&report, &fonts)).await.map_err(
        |error| {
            tracing::error!(%error, "rendering PDF");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, "rendering the PDF failed".into())
        },
    )?;
    Ok(attachment("application/pdf", "sightline-report.pdf", pdf))
}

/// A track a face search found, as the API shows it.
#[derive(Debug, Serialize)]
struct FaceMatchView {
    #[serde(flatten)]
    track: FaceSearchRow,
    first_seen: String,
    last_seen: String,
    best_shot_url: Option<String>,
}

async fn search_faces(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    query: Result<Query<FaceSearchQuery>, QueryRejection>,
    photo: Bytes,
) -> Result<Response, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let (face, searched) = match request.event {
        Some(id) if photo.is_empty() => {
            let face = state.read(state.warehouse.face_of_event(id)).await?;
            (face.ok_or_else(|| ApiError::not_found("no such event with a face descriptor"))?, SearchedFace::Event(id))
        }
        Some(_) => return Err(ApiError::bad_request("send a photo or name an event, not both")),
        None if photo.is_empty() => {
            return Err(ApiError::bad_request(
                "the body must be a photo (JPEG or PNG) of the face to search for, or event must name an event",
            ));
        }
        None => {
            let photos = state.photos.as_ref().ok_or_else(|| {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, "search by photo needs the face models (models_dir)".into())
            })?;
            let sha256: String = Sha256::digest(&photo).iter().map(|b| format!("{b:02x}")).collect();
            let descriptor = photos.describe_off_runtime(photo).await.map_err(|error| match error {
                PhotoError::Unusable(reason) => ApiError::unprocessable(reason),
                PhotoError::Internal(_) => {
                    tracing::error!(%error, "describing a search photo failed");
                    ApiError(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
                }
            })?;
            let face = Face {
                descriptor,
                descriptor_model: MODEL_NAME.into(),
                descriptor_model_version: MODEL_VERSION.into(),
            };
            (face, SearchedFace::Photo(sha256))
        }
    };
    let record = audit::record_search(&state.pool, &caller.principal, &searched, &request).await?;
    let found = state.read(state.warehouse.search_faces(&face, &request)).await;
    audit::record_outcome(&state.pool, record, found.as_ref().ok().map(Vec::len)).await?;
    let tracks: Vec<FaceMatchView> = found?
        .into_iter()
        .map(|track| FaceMatchView {
            first_seen: format_time(track.first_ms),
            last_seen: format_time(track.last_ms),
            best_shot_url: (track.has_best_shot != 0).then(|| format!("/v1/events/{}/best-shot", track.event_id)),
            track,
        })
        .collect();
    Ok(Json(serde_json::json!({
        "from_ms": request.range.from_ms,
        "to_ms": request.range.to_ms,
        "threshold": request.threshold,
        "audit_id": record,
        "tracks": tracks,
    }))
    .into_response())
}

async fn face_search_audit(
    State(state): State<ApiState>,
    _caller: Caller<Audits>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (range, limit) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let searches = audit::searches(&state.pool, range.from_ms, range.to_ms, limit).await?;
    Ok(Json(serde_json::json!({ "from_ms": range.from_ms, "to_ms": range.to_ms, "searches": searches }))
        .into_response())
}
