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
//!   recorded in the audit log (`search.face`) before it is answered, and admins read the records
//!   with `GET /v1/audit/face-searches?from&to&limit` (or `GET /v1/audit?action=search.face`);
//!
//! Times are ms since the epoch or RFC 3339; the range defaults to the last 24 hours. Every `/v1`
//! request needs a bearer token: aggregates (timeline, streams) any role, anything that identifies
//! people (events, best shots, persons) any role but viewer. Errors are JSON `{"error": "..."}`: 400
//! for a bad parameter (named), 401/403, 404, and 503 when the warehouse does not answer.

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sightline_common::accounts::AccountSettings;
use sightline_common::accounts_api::{self, AccountsState};
use sightline_common::api::{Administers, AnyRole, ApiError, Audits, Caller, SeesPeople};
use sightline_common::clock::now_ms;
use sightline_common::keys::KeyRing;
use sightline_common::openapi::{self, ErrorBody};
use sightline_common::sealing::StoredImageError;
use sightline_common::warehouse::WarehouseError;
use sightline_exporter::{PdfFonts, ReportClock};
use sightline_vision::descriptor::{MODEL_NAME, MODEL_VERSION};
use sightline_vision::photo::{ExaminedPhotoView, PhotoDescriber, PhotoError};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::SERVICE;
use crate::audit::{self, SearchedFace};
use crate::erasure::{Eraser, ErasureError, ErasureReport, ErasureRequest};
use crate::params::{
    AuditLogQuery, AuditQuery, BreakdownQuery, DEFAULT_REPORT_EVENTS, EventsQuery, FaceSearchQuery, IdentifiedQuery,
    InvalidParam, MAX_EXPORT, MAX_REPORT_EVENTS, PersonsQuery, RangeQuery, TimeRange, TimelineQuery, VisitsQuery,
    format_time,
};
use crate::retention::{Retention, RetentionRun};
use crate::store::{
    DWELL_BINS_MS, EventRow, Face, FaceSearchRow, HeatmapRow, IdentifiedDay, IdentifiedRow, MatchRow, PageRow,
    PersonSightingsRow, StreamSummaryRow, TimelineRow, VisitsRow, Warehouse, next_cursor,
};
use sightline_common::audit as trail;

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
    /// Retention's runs and health.
    pub retention: crate::retention::RetentionMetrics,
}

impl QueryMetrics {
    /// Registers the metrics in `registry` (prefix `sightline_query`).
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("sightline_query");
        let metrics = Self {
            requests: Family::default(),
            warehouse_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            retention: crate::retention::RetentionMetrics::register(registry),
        };
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
    /// The track keys that open the best shots the warehouse keeps sealed.
    pub keys: Arc<KeyRing>,
    /// Request metrics.
    pub metrics: QueryMetrics,
    /// Describes the face of a search photo; why not when the service runs without the face models
    /// (searches by an event's face still work).
    pub photos: Result<Arc<PhotoDescriber>, String>,
    /// The fonts summary PDFs are set in.
    pub fonts: PdfFonts,
    /// Sessions and login throttling ([`sightline_common::accounts_api`] is served here).
    pub accounts: AccountSettings,
    /// Erasures of people and tracks.
    pub eraser: Eraser,
    /// The deployment's `[privacy]` settings, shown to admins.
    pub privacy: PrivacyView,
    /// Retention runs.
    pub retention: Retention,
}

/// The `[privacy]` settings as admins see them (never the key itself or where it is kept).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacyView {
    /// Whether producers seal biometric fields on the wire.
    pub seal: bool,
    /// `deployment` (a key-encryption key from the deployment's secrets) or `development` (the
    /// published development key: protects nothing).
    pub key_source: String,
    /// How long a service keeps a track key in memory, seconds: the longest a destroyed key still
    /// opens something.
    pub key_cache_secs: u64,
    /// Retention per data class, days.
    pub retention: sightline_common::privacy::RetentionSettings,
}

impl ApiState {
    /// The face models for search photos, or a 503 saying why they are not available.
    fn photo_describer(&self) -> Result<&Arc<PhotoDescriber>, ApiError> {
        self.photos.as_ref().map_err(|reason| {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("search by photo is unavailable: {reason}"))
        })
    }
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes with their documentation (the accounts routes are added by [`router`]).
fn routes() -> OpenApiRouter<ApiState> {
    let (schemas, paths, search) = routes!(search_faces);
    let (examine_schemas, examine_paths, examine) = routes!(examine_search_photo);
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(event))
        .routes(routes!(best_shot))
        .routes(routes!(clip))
        .routes(routes!(clip_boxes))
        .routes(routes!(timeline))
        .routes(routes!(streams))
        .routes(routes!(persons))
        .routes(routes!(identified))
        .routes(routes!(dwell))
        .routes(routes!(heatmap))
        .routes(routes!(visits))
        .routes(routes!(events_csv))
        .routes(routes!(summary_pdf))
        .routes((schemas, paths, search.layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES))))
        .routes((examine_schemas, examine_paths, examine.layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES))))
        .routes(routes!(face_search_audit))
        .routes(routes!(audit_log))
        .routes(routes!(audit_log_csv))
        .routes(routes!(privacy_settings))
        .routes(routes!(records_of_processing))
        .routes(routes!(retention_runs, run_retention))
        .routes(routes!(erasure_preview))
        .routes(routes!(erasure))
}

/// The API's OpenAPI document (`GET /openapi.json`, kept in `schemas/openapi/query.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = routes().into_openapi();
    document.merge(accounts_api::router().into_openapi());
    openapi::finish(
        document,
        "Sightline query API",
        "Events, statistics, exports and face search over the warehouse, and the web app's accounts \
         (users, sessions, tokens). Times are ms since the epoch or RFC 3339; a range defaults to the last 24 \
         hours. Aggregates are open to every role; anything that identifies people needs an analyst or above.",
    )
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let metrics = state.metrics.clone();
    let accounts = AccountsState { pool: state.pool.clone(), settings: state.accounts.clone() };
    let (router, _) = routes().with_state(state).merge(accounts_api::router().with_state(accounts)).split_for_parts();
    router
        .route_layer(middleware::from_fn_with_state(metrics, count_requests))
        .merge(openapi::route(&openapi()))
        .fallback(|| async { ApiError::not_found("no such route") })
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
    query.map(|Query(q)| q).map_err(ApiError::invalid_query)
}

fn bad_param(error: InvalidParam) -> ApiError {
    ApiError::bad_request(error.to_string())
}

/// 503 for a read over a cluster whose shard (`shard`, e.g. "warehouse shard 2") has no replica
/// answering: never a partial answer.
fn shard_down(shard: &str, replicas: &str) -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{shard} is down: none of its replicas ({replicas}) answers, and an answer without it would be partial; \
             try again"
        ),
    )
}

fn unavailable(error: WarehouseError) -> ApiError {
    tracing::error!(%error, "warehouse query failed");
    if let Some(replicas) = error.unavailable_shard() {
        return shard_down("a warehouse shard", &replicas.join(", "));
    }
    match error {
        WarehouseError::Image(StoredImageError::Keys(_)) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, "the track keys are not answering; try again".into())
        }
        WarehouseError::Image(StoredImageError::Invalid(_)) => ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stored best shot does not open with its track's key (altered in storage)".into(),
        ),
        WarehouseError::Objects(error) => error.into(),
        _ => ApiError(StatusCode::SERVICE_UNAVAILABLE, "the warehouse is not answering; try again".into()),
    }
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
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let shard = match error.unavailable_shard() {
                    Some(replicas) => self.warehouse.shard_of(&replicas).await,
                    None => None,
                };
                Err(match shard {
                    Some((number, replicas)) => {
                        tracing::error!(%error, shard = number, "a warehouse shard does not answer");
                        shard_down(&format!("warehouse shard {number}"), &replicas)
                    }
                    None => unavailable(error),
                })
            }
        }
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
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// The event's columns.
    #[serde(flatten)]
    event: EventRow,
    /// `capture_ms` in RFC 3339.
    capture_time: String,
    /// Where its best shot is (a JPEG), under this API; null: none is stored.
    best_shot_url: Option<String>,
    /// Its watchlist matches, best first.
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
#[derive(Debug, Serialize, ToSchema)]
struct EventsPage {
    /// Newest first.
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
}

/// Events newest first, each with its watchlist matches and a best-shot link (analysts and up).
///
/// One row per track (its latest report; with a list, person or `matched` filter, its latest report
/// with a watchlist match) unless `every_report`; `next_cursor` fetches the next, older page, which
/// never skips or repeats an event.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery), responses((status = 200, body = EventsPage)))]
async fn events(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let rows = state.read(state.warehouse.events(&request)).await?;
    let next_cursor = next_cursor(&rows, request.limit).map(|cursor| cursor.encode());
    let events = state.with_matches(rows).await?;
    Ok(Json(EventsPage { events, next_cursor }))
}

/// One event with its matches (analysts and up).
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = Uuid, Path, description = "The event.")),
    responses((status = 200, body = EventView)))]
async fn event(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = event_id(&id)?;
    let row = state.read(state.warehouse.event(id)).await?.ok_or_else(|| ApiError::not_found("no such event"))?;
    let mut views = state.with_matches(vec![row]).await?;
    Ok(Json(views.remove(0)))
}

/// An event's best shot, JPEG (analysts and up).
#[utoipa::path(get, path = "/v1/events/{id}/best-shot", tag = "events", params(("id" = Uuid, Path, description = "The event.")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the best shot")))]
async fn best_shot(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    let jpeg = state
        .read(state.warehouse.best_shot(id, &state.keys))
        .await?
        .ok_or_else(|| ApiError::not_found("no best shot for this event"))?;
    trail::record_view(&state.pool, &caller.principal, crate::SERVICE, "image.best_shot", id.to_string()).await?;
    Ok(sightline_common::api::jpeg(jpeg, "private, max-age=86400"))
}

/// The video clip of an event's track, fragmented MP4 (analysts and up: it shows faces). The clip
/// runs from a few seconds before the track was first seen to a few seconds after it ended, and
/// grows while the track lasts. `X-Clip-Start-Ms` is the capture time of its first frame (ms since
/// the epoch), so the event's best shot is at `capture_ms - X-Clip-Start-Ms` into it. A `Range`
/// of bytes is answered 206 with that part.
#[utoipa::path(get, path = "/v1/events/{id}/clip", tag = "events", params(("id" = Uuid, Path, description = "The event.")),
    responses((status = 200, content_type = "video/mp4", body = Vec<u8>, description = "the clip"),
        (status = 206, content_type = "video/mp4", body = Vec<u8>, description = "the range of the clip asked for"),
        (status = 404, description = "the event or its clip does not exist"),
        (status = 416, description = "the range is outside the clip")))]
async fn clip(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    Path(id): Path<String>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    use sightline_common::api::{VideoPart, video};
    let id = event_id(&id)?;
    let event = state.read(state.warehouse.event(id)).await?.ok_or_else(|| ApiError::not_found("no such event"))?;
    let no_clip = || ApiError::not_found("no clip for this event's track");
    let (folder, start_ms) = state.read(state.warehouse.clip(&event)).await?.ok_or_else(no_clip)?;
    let range = headers.get(axum::http::header::RANGE).and_then(|v| v.to_str().ok());
    let extra = [("x-clip-start-ms", start_ms.to_string())];
    // Listed again when a piece changed under the read (the clip was completed meanwhile).
    for _ in 0..CLIP_READ_ATTEMPTS {
        let layout = state.read(state.warehouse.clip_layout(&folder)).await?.ok_or_else(no_clip)?;
        let part = match VideoPart::of(range, layout.len()) {
            Ok(part) => part,
            Err(refused) => return Ok(refused.into_response()),
        };
        if method == axum::http::Method::HEAD {
            return Ok(video(part, None, &extra));
        }
        let Some(bytes) = state.read(state.warehouse.clip_bytes(&layout, part.first, part.last)).await? else {
            continue;
        };
        // A viewing starts at the clip's first byte; the ranges a player asks for next are the same
        // viewing.
        if part.first == 0 {
            trail::record_view(&state.pool, &caller.principal, crate::SERVICE, "video.clip", id.to_string()).await?;
        }
        return Ok(video(part, Some(bytes), &extra));
    }
    Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the clip changed while it was read: ask again".into()))
}

/// Reads of a clip that is being completed: one more after its init segment was stored again.
const CLIP_READ_ATTEMPTS: usize = 3;

/// The track's box in every analysed frame of its clip (analysts and up), for drawing it over the
/// video: `{"boxes": [[t_ms, x, y, width, height], ...]}`, times from the clip's time 0, boxes as
/// fractions of the frame. Stored when the clip is complete: 404 before, as without a clip.
#[utoipa::path(get, path = "/v1/events/{id}/clip/boxes", tag = "events", params(("id" = Uuid, Path, description = "The event.")),
    responses((status = 200, content_type = "application/json", body = Object, description = "the box path"),
        (status = 404, description = "the event, its clip or the clip's boxes do not exist")))]
async fn clip_boxes(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    let event = state.read(state.warehouse.event(id)).await?.ok_or_else(|| ApiError::not_found("no such event"))?;
    let boxes = state
        .read(state.warehouse.clip_boxes(&event))
        .await?
        .ok_or_else(|| ApiError::not_found("no box path for this event's track in its clip (yet)"))?;
    Ok(([(axum::http::header::CACHE_CONTROL, "private, no-cache")], Json(boxes)).into_response())
}

/// Tracks per time bucket.
#[derive(Debug, Serialize, ToSchema)]
struct Timeline {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// The buckets' width, ms.
    bucket_ms: i64,
    /// Buckets with tracks, oldest first (a bucket without any is absent).
    buckets: Vec<TimelineRow>,
}

/// Tracks per time bucket (minute, hour or day) and kind (any role).
#[utoipa::path(get, path = "/v1/stats/timeline", tag = "statistics", params(TimelineQuery), responses((status = 200, body = Timeline)))]
async fn timeline(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Timeline>, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let buckets = state.read(state.warehouse.timeline(&request)).await?;
    Ok(Json(Timeline { range: request.range, bucket_ms: request.bucket_ms, buckets }))
}

/// Tracks per stream.
#[derive(Debug, Serialize, ToSchema)]
struct StreamCounts {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// Streams with tracks in the range.
    streams: Vec<StreamSummaryRow>,
}

/// Tracks per stream and kind (any role).
#[utoipa::path(get, path = "/v1/stats/streams", tag = "statistics", params(RangeQuery), responses((status = 200, body = StreamCounts)))]
async fn streams(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<StreamCounts>, ApiError> {
    let range = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let streams = state.read(state.warehouse.streams(&range)).await?;
    Ok(Json(StreamCounts { range, streams }))
}

/// The most sighted watchlist persons.
#[derive(Debug, Serialize, ToSchema)]
struct PersonCounts {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// Most sighted first.
    persons: Vec<PersonSightingsRow>,
}

/// The most sighted watchlist persons (analysts and up).
#[utoipa::path(get, path = "/v1/stats/persons", tag = "statistics", params(PersonsQuery), responses((status = 200, body = PersonCounts)))]
async fn persons(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<PersonsQuery>, QueryRejection>,
) -> Result<Json<PersonCounts>, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let persons = state.read(state.warehouse.persons(&request)).await?;
    Ok(Json(PersonCounts { range: request.range, persons }))
}

/// Identified persons per day and site.
#[derive(Debug, Serialize, ToSchema)]
struct IdentifiedDays {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// The time zone whose midnights start the days.
    tz: String,
    /// Days and sites with identified tracks, oldest first.
    days: Vec<IdentifiedRow>,
    /// Days with identified tracks across the sites asked for, oldest first: a person seen at two
    /// sites on one day counts once that day.
    per_day: Vec<IdentifiedDay>,
    /// Distinct persons identified in the whole range (one person seen on several days or at
    /// several sites counts once; one person on several lists with the same external id, once).
    persons: u64,
    /// Identified tracks in the whole range.
    tracks: u64,
}

/// Unique identified persons and identified tracks per day and site (any role).
#[utoipa::path(get, path = "/v1/stats/identified", tag = "statistics", params(IdentifiedQuery),
    responses((status = 200, body = IdentifiedDays)))]
async fn identified(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<IdentifiedQuery>, QueryRejection>,
) -> Result<Json<IdentifiedDays>, ApiError> {
    let (range, site, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    state.known_time_zone(&zone).await?;
    let counts = state.read(state.warehouse.identified(&range, &site, &zone)).await?;
    let (persons, tracks) = (counts.total.persons, counts.total.tracks);
    Ok(Json(IdentifiedDays { range, tz: zone, days: counts.by_site, per_day: counts.by_day, persons, tracks }))
}

/// How long tracks stayed in view.
#[derive(Debug, Serialize, ToSchema)]
struct Dwell {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// Tracks counted.
    tracks: u64,
    /// Mean dwell, ms.
    mean_ms: i64,
    /// Median dwell, ms; null without tracks.
    p50_ms: Option<i64>,
    /// 90th percentile, ms; null without tracks.
    p90_ms: Option<i64>,
    /// 99th percentile, ms; null without tracks.
    p99_ms: Option<i64>,
    /// Tracks per dwell bin, shortest first.
    histogram: Vec<DwellBin>,
}

/// Tracks whose dwell is in `[from_ms, to_ms)`.
#[derive(Debug, Serialize, ToSchema)]
struct DwellBin {
    /// Shortest dwell of the bin, ms.
    from_ms: i64,
    /// Longest (exclusive), ms; null for the last bin.
    to_ms: Option<i64>,
    /// Tracks.
    tracks: u64,
}

/// How long tracks stayed in view: mean, percentiles and a histogram (any role).
#[utoipa::path(get, path = "/v1/stats/dwell", tag = "statistics", params(BreakdownQuery), responses((status = 200, body = Dwell)))]
async fn dwell(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<BreakdownQuery>, QueryRejection>,
) -> Result<Json<Dwell>, ApiError> {
    let (scope, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    if zone != "UTC" {
        return Err(ApiError::bad_request("tz: dwell does not depend on a time zone"));
    }
    let dwell = state.read(state.warehouse.dwell(&scope)).await?;
    let histogram = dwell
        .histogram
        .iter()
        .enumerate()
        .map(|(i, &tracks)| DwellBin {
            from_ms: if i == 0 { 0 } else { DWELL_BINS_MS[i - 1] },
            to_ms: DWELL_BINS_MS.get(i).copied(),
            tracks,
        })
        .collect();
    let percentile = |i: usize| dwell.percentiles_ms.get(i).copied().filter(|_| dwell.tracks > 0);
    Ok(Json(Dwell {
        range: scope.range,
        tracks: dwell.tracks,
        mean_ms: dwell.mean_ms,
        p50_ms: percentile(0),
        p90_ms: percentile(1),
        p99_ms: percentile(2),
        histogram,
    }))
}

/// Arrivals by day of the week and hour.
#[derive(Debug, Serialize, ToSchema)]
struct Heatmap {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// The time zone of the days and hours.
    tz: String,
    /// Cells with arrivals (an absent cell has none).
    cells: Vec<HeatmapRow>,
}

/// Tracks arriving per day of the week and hour, in a time zone (any role).
#[utoipa::path(get, path = "/v1/stats/heatmap", tag = "statistics", params(BreakdownQuery), responses((status = 200, body = Heatmap)))]
async fn heatmap(
    State(state): State<ApiState>,
    _caller: Caller<AnyRole>,
    query: Result<Query<BreakdownQuery>, QueryRejection>,
) -> Result<Json<Heatmap>, ApiError> {
    let (scope, zone) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    state.known_time_zone(&zone).await?;
    let cells = state.read(state.warehouse.heatmap(&scope, &zone)).await?;
    Ok(Json(Heatmap { range: scope.range, tz: zone, cells }))
}

/// Identified persons' visits per site.
#[derive(Debug, Serialize, ToSchema)]
struct Visits {
    /// The range counted.
    #[serde(flatten)]
    range: TimeRange,
    /// Sightings closer than this are one visit, ms.
    gap_ms: i64,
    /// Persons and sites, most visits first.
    persons: Vec<VisitsRow>,
}

/// Each identified person's visits, tracks and dwell per site (analysts and up).
#[utoipa::path(get, path = "/v1/stats/visits", tag = "statistics", params(VisitsQuery), responses((status = 200, body = Visits)))]
async fn visits(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    query: Result<Query<VisitsQuery>, QueryRejection>,
) -> Result<Json<Visits>, ApiError> {
    let request = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let persons = state.read(state.warehouse.visits(&request)).await?;
    Ok(Json(Visits { range: request.range, gap_ms: request.gap_ms, persons }))
}

/// A download: `bytes` of `content_type`, saved as `filename`.
fn attachment(content_type: &'static str, filename: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// Rows per chunk of a streamed CSV (each chunk reads its events' matches in one query).
const CSV_CHUNK_ROWS: usize = 2_000;

/// Every selected event as CSV, streamed (analysts and up).
///
/// At most 5,000,000 events: a larger selection is a 400 unless `limit` takes the newest.
#[utoipa::path(get, path = "/v1/reports/events.csv", tag = "exports", params(EventsQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "the events, a row each")))]
async fn events_csv(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    RawQuery(filters): RawQuery,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let export = query_string(query)?.validate_export(now_ms()).map_err(bad_param)?;
    let mut request = export.events;
    let mut exported = u64::from(request.limit);
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
        exported = count;
    }
    // Recorded before a byte is sent: an export whose record cannot be written is not made.
    let entry = trail::Entry::new("export.csv", filters.unwrap_or_default()).counting(exported);
    trail::record(&state.pool, &caller.principal, SERVICE, entry).await?;
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

/// A summary PDF for people: totals, streams, the most sighted persons and the latest `limit`
/// events (default 50) with best shots, times in `tz` (analysts and up).
#[utoipa::path(get, path = "/v1/reports/summary.pdf", tag = "exports", params(EventsQuery),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>, description = "the report")))]
async fn summary_pdf(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    RawQuery(filters): RawQuery,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let (request, zone) =
        query_string(query)?.validate_report(now, DEFAULT_REPORT_EVENTS, MAX_REPORT_EVENTS).map_err(bad_param)?;
    let clock = ReportClock::named(&zone).map_err(|error| ApiError::bad_request(format!("tz: {error}")))?;
    state.known_time_zone(&zone).await?;
    let mut report = state
        .read(crate::reports::summary(&state.warehouse, &state.keys, &request, "Sightline report", now, clock))
        .await?;
    crate::reports::name_streams(&state.pool, &mut report).await?;
    let entry = trail::Entry::new("export.pdf", filters.unwrap_or_default()).counting(report.events.len());
    trail::record(&state.pool, &caller.principal, SERVICE, entry).await?;
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
#[derive(Debug, Serialize, ToSchema)]
struct FaceMatchView {
    /// The track.
    #[serde(flatten)]
    track: FaceSearchRow,
    /// `first_ms` in RFC 3339.
    first_seen: String,
    /// `last_ms` in RFC 3339.
    last_seen: String,
    /// The best-matching report's best shot (a JPEG) under this API; null: none is stored.
    best_shot_url: Option<String>,
    /// Whom the track was identified as (that report's watchlist matches, best first); empty: no one
    /// on a watchlist.
    matches: Vec<SearchMatch>,
}

/// A watchlist match of a track a face search found.
#[derive(Debug, Serialize, ToSchema)]
struct SearchMatch {
    /// The person's name.
    person_display_name: String,
    /// The watchlist.
    list_name: String,
    /// Similarity of the track's face to the person's.
    similarity: f32,
}

/// What a face search found.
#[derive(Debug, Serialize, ToSchema)]
struct FaceSearchAnswer {
    /// The range searched.
    #[serde(flatten)]
    range: TimeRange,
    /// The lowest similarity kept.
    threshold: f32,
    /// The search's audit record.
    audit_id: i64,
    /// Most similar first.
    tracks: Vec<FaceMatchView>,
}

/// Finds the tracks where a face was seen, most similar first (analysts and up).
///
/// The body is a photo (JPEG or PNG, at most 10 MiB) of the face; or `event` names an event whose
/// face to look for, and there is no body. Every search is recorded for the audit before it runs.
#[utoipa::path(post, path = "/v1/search/faces", tag = "search", params(FaceSearchQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A photo of the face (JPEG or PNG)."),
    responses((status = 200, body = FaceSearchAnswer),
        (status = 422, body = ErrorBody, description = "no usable face in the photo"),
        (status = 503, body = ErrorBody, description = "the warehouse or the face models are not available")))]
async fn search_faces(
    State(state): State<ApiState>,
    caller: Caller<SeesPeople>,
    query: Result<Query<FaceSearchQuery>, QueryRejection>,
    photo: Bytes,
) -> Result<Json<FaceSearchAnswer>, ApiError> {
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
            let photos = state.photo_describer()?;
            let sha256: String = Sha256::digest(&photo).iter().map(|b| format!("{b:02x}")).collect();
            let choice = request.face;
            let described =
                photos.off_runtime(photo, move |describer, photo| describer.describe_chosen_face(photo, choice));
            let descriptor = described.await.map(|face| face.descriptor).map_err(photo_error)?;
            let face = Face {
                descriptor,
                descriptor_model: MODEL_NAME.into(),
                descriptor_model_version: MODEL_VERSION.into(),
            };
            (face, SearchedFace::Photo(sha256))
        }
    };
    // Recorded before any of it is answered: a search whose record cannot be written shows nothing.
    let found = state.read(state.warehouse.search_faces(&face, &request)).await;
    let tracks_found = found.as_ref().ok().map(Vec::len);
    let record = audit::record_search(&state.pool, &caller.principal, &searched, &request, tracks_found).await?;
    let found = found?;
    // Whom each track was identified as: the matches of its best-matching report.
    let reports: Vec<PageRow> =
        found.iter().map(|track| PageRow { id: track.event_id.clone(), capture_ms: track.event_capture_ms }).collect();
    let events = state.read(state.warehouse.events_by_id(&reports)).await?;
    let mut matches = state.read(state.warehouse.matches_by_event(&events)).await?;
    let tracks: Vec<FaceMatchView> = found
        .into_iter()
        .map(|track| FaceMatchView {
            first_seen: format_time(track.first_ms),
            last_seen: format_time(track.last_ms),
            best_shot_url: (track.has_best_shot != 0).then(|| format!("/v1/events/{}/best-shot", track.event_id)),
            matches: matches
                .remove(&track.event_id)
                .unwrap_or_default()
                .into_iter()
                .map(|m| SearchMatch {
                    person_display_name: m.person_display_name,
                    list_name: m.list_name,
                    similarity: m.similarity,
                })
                .collect(),
            track,
        })
        .collect();
    Ok(Json(FaceSearchAnswer { range: request.range, threshold: request.threshold, audit_id: record, tracks }))
}

/// The faces in a search photo, to choose the one to search for in a photo of several people
/// (`face`, its index here); nothing is stored or searched (analysts and up).
#[utoipa::path(post, path = "/v1/search/faces/examine", tag = "search",
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A photo (JPEG or PNG, at most 10 MiB)."),
    responses((status = 200, body = ExaminedPhotoView),
        (status = 503, body = ErrorBody, description = "the face models are not available")))]
async fn examine_search_photo(
    State(state): State<ApiState>,
    _caller: Caller<SeesPeople>,
    photo: Bytes,
) -> Result<Json<ExaminedPhotoView>, ApiError> {
    if photo.is_empty() {
        return Err(ApiError::bad_request("the body must be a photo (JPEG or PNG)"));
    }
    let examined = state.photo_describer()?.off_runtime(photo, PhotoDescriber::examine).await.map_err(photo_error)?;
    Ok(Json(ExaminedPhotoView::from(&examined)))
}

/// A search photo's failure as the answer: a photo without a usable face is a 422 saying why.
fn photo_error(error: PhotoError) -> ApiError {
    match error {
        PhotoError::Unusable(reason) => ApiError::unprocessable(reason),
        PhotoError::Internal(_) => {
            tracing::error!(%error, "describing a search photo failed");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        }
    }
}

/// Recorded face searches.
#[derive(Debug, Serialize, ToSchema)]
struct SearchRecords {
    /// The range listed.
    #[serde(flatten)]
    range: TimeRange,
    /// Newest first.
    searches: Vec<audit::SearchRecord>,
}

/// The record of face searches: who searched, when, for which photo or event, in which scope
/// (admins).
#[utoipa::path(get, path = "/v1/audit/face-searches", tag = "search", params(AuditQuery), responses((status = 200, body = SearchRecords)))]
async fn face_search_audit(
    State(state): State<ApiState>,
    _caller: Caller<Audits>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<SearchRecords>, ApiError> {
    let (range, limit) = query_string(query)?.validate(now_ms()).map_err(bad_param)?;
    let searches = audit::searches(&state.pool, range.from_ms, range.to_ms, limit).await?;
    Ok(Json(SearchRecords { range, searches }))
}

/// The deployment's privacy settings: sealing, where the key-encryption key comes from, and the
/// retention period of each data class (admins; read-only, set in every service's `[privacy]`).
#[utoipa::path(get, path = "/v1/privacy/settings", tag = "privacy", responses((status = 200, body = PrivacyView)))]
async fn privacy_settings(State(state): State<ApiState>, _caller: Caller<Audits>) -> Json<PrivacyView> {
    Json(state.privacy)
}

/// The records of processing (GDPR article 30) generated from the settings in force: each class of
/// data, where it is kept, for how long and who can read it, as a Markdown document to complete and
/// hand to a data-protection officer (admins).
#[utoipa::path(get, path = "/v1/privacy/records-of-processing", tag = "privacy",
    responses((status = 200, content_type = "text/markdown", body = String, description = "the document")))]
async fn records_of_processing(State(state): State<ApiState>, _caller: Caller<Audits>) -> Response {
    let document = crate::records::records_of_processing(&state.privacy, &format_time(now_ms()));
    let mut response =
        attachment("text/markdown; charset=utf-8", "sightline-records-of-processing.md", document.into_bytes());
    // It states the settings in force now: never a stale copy.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The retention runs (what each expired, per store), newest first (admins).
#[derive(Debug, Serialize, ToSchema)]
struct RetentionRuns {
    /// The latest 20.
    runs: Vec<RetentionRun>,
}

/// The latest retention runs: when, by whom (`schedule` or an admin), and what each expired (admins).
#[utoipa::path(get, path = "/v1/privacy/retention-runs", tag = "privacy", responses((status = 200, body = RetentionRuns)))]
async fn retention_runs(
    State(state): State<ApiState>,
    _caller: Caller<Audits>,
) -> Result<Json<RetentionRuns>, ApiError> {
    Ok(Json(RetentionRuns { runs: state.retention.runs(20).await? }))
}

/// Runs retention now (admins): keys, the warehouse's copies and partitions, alerts and audit records
/// past their periods are expired, and the run is recorded. 409 while another run is under way.
#[utoipa::path(post, path = "/v1/privacy/retention-runs", tag = "privacy",
    responses((status = 200, body = RetentionRun), (status = 409, body = ErrorBody)))]
async fn run_retention(
    State(state): State<ApiState>,
    caller: Caller<Administers>,
) -> Result<Json<RetentionRun>, ApiError> {
    match state.retention.run(Some(&caller.principal)).await? {
        Some(run) => Ok(Json(run)),
        None => Err(ApiError(StatusCode::CONFLICT, "a retention run is under way; try again when it ends".into())),
    }
}

impl From<ErasureError> for ApiError {
    fn from(error: ErasureError) -> Self {
        match error {
            ErasureError::Invalid(message) => ApiError::bad_request(message),
            ErasureError::Postgres(error) => error.into(),
            ErasureError::Warehouse(error) => unavailable(error),
            ErasureError::Objects(error) => unavailable(WarehouseError::Objects(error)),
        }
    }
}

/// What erasing a watchlist person or tracks would remove, per store: tracks, reports, descriptors,
/// best shots, matches, alerts, enrolments and track keys (admins). Nothing is erased (the tracks
/// are listed in the warehouse by id, as the erasure lists them).
#[utoipa::path(post, path = "/v1/privacy/erasures/preview", tag = "privacy", request_body = ErasureRequest,
    responses((status = 200, body = ErasureReport), (status = 400, body = ErrorBody)))]
async fn erasure_preview(
    State(state): State<ApiState>,
    _caller: Caller<Administers>,
    body: Result<Json<ErasureRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ErasureReport>, ApiError> {
    let Json(request) = body.map_err(ApiError::invalid_json)?;
    Ok(Json(state.eraser.preview(&request).await?))
}

/// Erases a watchlist person or tracks for good (admins; `reason` required): their track keys are
/// destroyed, so no copy on the Kafka topics can be read again and a rebuild brings nothing back;
/// their best shots, descriptors, matches, alerts and enrolment are deleted; their reports stay,
/// emptied of biometrics, so counts stay right. The receipt (counts per store) is kept in the audit
/// log (`privacy.erasure`). The warehouse's deletions complete in the background (seconds at 1M
/// tracks, under a minute at 10M).
#[utoipa::path(post, path = "/v1/privacy/erasures", tag = "privacy", request_body = ErasureRequest,
    responses((status = 200, body = ErasureReport), (status = 400, body = ErrorBody)))]
async fn erasure(
    State(state): State<ApiState>,
    caller: Caller<Administers>,
    body: Result<Json<ErasureRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ErasureReport>, ApiError> {
    let Json(request) = body.map_err(ApiError::invalid_json)?;
    let report = state.eraser.erase(&request, &caller.principal).await?;
    tracing::info!(receipt = ?report.receipt_id, tracks = report.counts.tracks, "erasure done");
    Ok(Json(report))
}

/// The audit log's records.
#[derive(Debug, Serialize, ToSchema)]
struct AuditRecords {
    /// The range listed.
    #[serde(flatten)]
    range: TimeRange,
    /// Newest first.
    records: Vec<trail::AuditRecord>,
}

/// The audit log: who exported, changed a watchlist or otherwise touched biometric data, when, and
/// how many items, newest first (admins).
#[utoipa::path(get, path = "/v1/audit", tag = "search", params(AuditLogQuery), responses((status = 200, body = AuditRecords)))]
async fn audit_log(
    State(state): State<ApiState>,
    _caller: Caller<Audits>,
    query: Result<Query<AuditLogQuery>, QueryRejection>,
) -> Result<Json<AuditRecords>, ApiError> {
    let query = query_string(query)?;
    let (range, limit) = query.validate(now_ms()).map_err(bad_param)?;
    let records = trail::records(
        &state.pool,
        range.from_ms,
        range.to_ms,
        query.action.as_deref().filter(|a| !a.is_empty()),
        query.who.as_deref().filter(|w| !w.is_empty()),
        i64::from(limit),
    )
    .await?;
    Ok(Json(AuditRecords { range, records }))
}

/// The audit log's records as CSV, newest first, the same filters as `GET /v1/audit` (admins).
#[utoipa::path(get, path = "/v1/audit.csv", tag = "search", params(AuditLogQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "the records, a row each")))]
async fn audit_log_csv(
    State(state): State<ApiState>,
    caller: Caller<Audits>,
    query: Result<Query<AuditLogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Json(AuditRecords { records, .. }) = audit_log(State(state), caller, query).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written: Result<(), csv::Error> = (|| {
        writer.write_record(["id", "at", "who", "role", "via", "service", "action", "subject", "count", "detail"])?;
        for record in &records {
            writer.write_record([
                record.id.to_string(),
                format_time(record.at_ms),
                record.who.clone(),
                record.role.clone(),
                record.via.clone(),
                record.service.clone(),
                record.action.clone(),
                record.subject.clone(),
                record.count.map(|count| count.to_string()).unwrap_or_default(),
                record.detail.to_string(),
            ])?;
        }
        Ok(())
    })();
    let bytes = written.and_then(|()| writer.into_inner().map_err(|e| e.into_error().into())).map_err(|error| {
        tracing::error!(%error, "writing the audit CSV");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "writing the CSV failed".into())
    })?;
    Ok(attachment("text/csv; charset=utf-8", "sightline-audit.csv", bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_openapi_document_is_the_one_the_code_generates() {
        if let Err(difference) = sightline_common::openapi::check_kept(&super::openapi(), "query") {
            panic!("{difference}");
        }
    }
}
