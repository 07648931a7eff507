//! The streams REST API of the ingest service: create, list, get, update and delete the streams kept
//! in PostgreSQL (`schemas/postgres/0002_streams.sql`), with their live state.
//!
//! Every request needs `Authorization: Bearer <token>`, checked against `api_tokens` (SHA-256 of the
//! token; not revoked). Reading needs any role (viewers get no source URL; only admins get it whole,
//! and the failure text; viewers see a stream's frames only with every face blurred, and only where
//! the stream allows it); changing needs `admin` or `operator`. Errors are JSON
//! `{"error": "..."}` with 400 (invalid input), 401 (no or unknown token), 403 (role), 404 (no such
//! stream) or 500. `POST /v1/streams/{id}/restart` analyses a stream again from its start (a video
//! file analysed to its end is otherwise not analysed again, on restart either; a change through
//! `PUT` or `PATCH` also starts it again).
//!
//! `PATCH /v1/streams/{id}` changes the fields it names and keeps the others (`{"enabled": false}`
//! disables a stream). A `source_url` sent back as this API showed it to an operator, credentials
//! masked, keeps the stored URL: `PUT` or `PATCH` of what `GET` returned changes nothing else.
//! Validation errors begin with the field they are about (`analysis_fps 0 must be ...`), so a form
//! can show them beside it.
//!
//! `GET /v1/streams/{id}/snapshot` (analysts and up: it shows faces) is the stream's last analysed
//! frame as JPEG with its detections drawn ([`crate::snapshot`]), renewed every second while the
//! stream runs; its capture time is in `X-Capture-Ms`. The stream's `state.snapshot` says when it was
//! captured and how many faces and bodies it shows (`{"capture_ms", "faces", "bodies"}`; null: none).
//! Asked of an instance that does not run the stream, the frame is fetched from the one that does
//! with a single-use ticket for that stream (`X-Sightline-Peer-Ticket`), never the caller's
//! credentials, and only a JPEG is taken back.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use sightline_common::api::{AnyRole, ApiError, Caller, Manages, check_text, mask_url};
use sightline_common::audit;
use sightline_common::auth::{PEER_TICKET_HEADER, Role};
use sightline_common::openapi;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::live::{FacesShown, LiveFrame, LiveViews, PartReader};
use crate::snapshot::SnapshotBoard;
use crate::source::{Phase, StreamStatus};

/// A stream as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stream {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Source URL (`rtsp://`, `http(s)://` MJPEG, `file://` or a path, `v4l2://`).
    pub source_url: String,
    /// Site.
    pub site: String,
    /// Analysed frames per second (1–30).
    pub analysis_fps: i32,
    /// Region of interest as fractions of the frame, or null for the whole frame.
    #[schema(value_type = Option<Roi>)]
    pub roi: Option<sqlx::types::Json<Roi>>,
    /// Minimum face score.
    pub face_min_score: f32,
    /// Minimum person score.
    pub person_min_score: f32,
    /// Whether it is analysed.
    pub enabled: bool,
    /// Privacy by default: faces that match no watchlist are kept as counts only (no descriptor, no
    /// best shot; their tracks' keys destroyed when they end).
    pub count_only_unmatched_faces: bool,
    /// Privacy by default: viewers see its frames with every face blurred (off: viewers see none of
    /// its frames; analysts and up see them whole either way).
    pub blur_faces_for_viewers: bool,
    /// For a video file: when its first frame was taken, ms since the epoch (capture times are this
    /// plus the frame's position in the file); null: the file's last modification minus its length.
    pub media_start_ms: Option<i64>,
    /// For a video file: when it was analysed to its end, ms since the epoch (it is not analysed
    /// again, on restart either, until `POST /v1/streams/{id}/restart` or a change).
    pub finished_ms: Option<i64>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Stream {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            source_url: row.try_get("source_url")?,
            site: row.try_get("site")?,
            analysis_fps: row.try_get("analysis_fps")?,
            roi: row.try_get("roi")?,
            face_min_score: row.try_get("face_min_score")?,
            person_min_score: row.try_get("person_min_score")?,
            enabled: row.try_get("enabled")?,
            count_only_unmatched_faces: row.try_get("count_only_unmatched_faces")?,
            blur_faces_for_viewers: row.try_get("blur_faces_for_viewers")?,
            media_start_ms: row.try_get("media_start_ms")?,
            finished_ms: row.try_get("finished_ms")?,
        })
    }
}

/// A region of interest, fractions of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Roi {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// The fields a client sends to create or replace a stream.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamInput {
    /// Display name.
    pub name: String,
    /// Source URL.
    pub source_url: String,
    /// Site.
    #[serde(default)]
    pub site: String,
    /// Analysed frames per second.
    #[serde(default = "default_fps")]
    pub analysis_fps: i32,
    /// Region of interest.
    #[serde(default)]
    pub roi: Option<Roi>,
    /// Minimum face score.
    #[serde(default = "default_face_score")]
    pub face_min_score: f32,
    /// Minimum person score.
    #[serde(default = "default_person_score")]
    pub person_min_score: f32,
    /// Whether it is analysed.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Faces that match no watchlist kept as counts only (default: kept whole).
    #[serde(default)]
    pub count_only_unmatched_faces: bool,
    /// Viewers see its frames with every face blurred (default: viewers see none of its frames).
    #[serde(default)]
    pub blur_faces_for_viewers: bool,
    /// For a video file: when its first frame was taken, ms since the epoch.
    #[serde(default)]
    pub media_start_ms: Option<i64>,
}

fn default_fps() -> i32 {
    5
}
fn default_face_score() -> f32 {
    0.8
}
fn default_person_score() -> f32 {
    0.5
}
fn default_enabled() -> bool {
    true
}

/// The fields a client sends to change some of a stream's: those absent keep their value (`roi` and
/// `media_start_ms` sent as null clear theirs).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamPatch {
    /// Display name.
    pub name: Option<String>,
    /// Source URL.
    pub source_url: Option<String>,
    /// Site.
    pub site: Option<String>,
    /// Analysed frames per second.
    pub analysis_fps: Option<i32>,
    /// Region of interest (null: the whole frame).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Roi>)]
    pub roi: Option<Option<Roi>>,
    /// Minimum face score.
    pub face_min_score: Option<f32>,
    /// Minimum person score.
    pub person_min_score: Option<f32>,
    /// Whether it is analysed.
    pub enabled: Option<bool>,
    /// Faces that match no watchlist kept as counts only.
    pub count_only_unmatched_faces: Option<bool>,
    /// Viewers see its frames with every face blurred.
    pub blur_faces_for_viewers: Option<bool>,
    /// For a video file: when its first frame was taken (null: from the file).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub media_start_ms: Option<Option<i64>>,
}

/// A field that is present, null or not: absent fields stay `None` through `#[serde(default)]`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl StreamPatch {
    /// `stored` with this patch's fields.
    pub fn applied_to(self, stored: Stream) -> StreamInput {
        StreamInput {
            name: self.name.unwrap_or(stored.name),
            source_url: self.source_url.unwrap_or(stored.source_url),
            site: self.site.unwrap_or(stored.site),
            analysis_fps: self.analysis_fps.unwrap_or(stored.analysis_fps),
            roi: self.roi.unwrap_or(stored.roi.map(|r| r.0)),
            face_min_score: self.face_min_score.unwrap_or(stored.face_min_score),
            person_min_score: self.person_min_score.unwrap_or(stored.person_min_score),
            enabled: self.enabled.unwrap_or(stored.enabled),
            count_only_unmatched_faces: self.count_only_unmatched_faces.unwrap_or(stored.count_only_unmatched_faces),
            blur_faces_for_viewers: self.blur_faces_for_viewers.unwrap_or(stored.blur_faces_for_viewers),
            media_start_ms: self.media_start_ms.unwrap_or(stored.media_start_ms),
        }
    }
}

impl StreamInput {
    /// Checks the input against `sources`; the error says which field is wrong and why.
    pub fn validate(&self, sources: &SourcePolicy) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err("name must have 1 to 200 characters".into());
        }
        check_text("name", &self.name, 800)?;
        check_text("site", &self.site, 256)?;
        check_text("source_url", &self.source_url, 2048)?;
        sources.check(self.source_url.trim())?;
        // 1970 to the end of year 9999, as the query API's times.
        if let Some(start) = self.media_start_ms
            && !(0..=253_402_300_799_999).contains(&start)
        {
            return Err(format!("media_start_ms {start} must be ms since 1970, before year 10000"));
        }
        if !(1..=30).contains(&self.analysis_fps) {
            return Err(format!("analysis_fps {} must be between 1 and 30", self.analysis_fps));
        }
        for (field, score) in [("face_min_score", self.face_min_score), ("person_min_score", self.person_min_score)] {
            if !(score > 0.0 && score <= 1.0) {
                return Err(format!("{field} {score} must be in (0, 1]"));
            }
        }
        if let Some(roi) = self.roi {
            let inside = [roi.x, roi.y].iter().all(|v| (0.0..1.0).contains(v))
                && roi.width > 0.0
                && roi.height > 0.0
                && roi.x + roi.width <= 1.0
                && roi.y + roi.height <= 1.0;
            if !inside {
                return Err("roi must lie inside the frame: 0 <= x, y < 1, width and height > 0, x + width <= 1, y + height <= 1".into());
            }
        }
        Ok(())
    }
}

/// Which source URLs a stream may have. A stream URL makes the service connect where it says or
/// read what it names, so it is an allowlist: network schemes and, optionally, hosts; local files
/// and devices only where an operator enabled them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcePolicy {
    /// Network schemes allowed (of `rtsp`, `rtsps`, `http`, `https`).
    pub schemes: Vec<String>,
    /// Hosts allowed: exact names or addresses, or `.example.com` for a domain and its subdomains;
    /// empty allows every host.
    pub hosts: Vec<String>,
    /// Whether `file://` URLs and absolute paths are allowed (off: a stream could read any file the
    /// service can).
    pub allow_local_files: bool,
    /// Whether `v4l2://` devices are allowed.
    pub allow_devices: bool,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        Self {
            schemes: ["rtsp", "rtsps", "http", "https"].map(String::from).to_vec(),
            hosts: Vec::new(),
            allow_local_files: false,
            allow_devices: false,
        }
    }
}

impl SourcePolicy {
    /// Whether `url` is allowed; the error says why not, naming the setting that would allow it.
    pub fn check(&self, url: &str) -> Result<(), String> {
        if url.starts_with('/') || url.starts_with("file://") {
            if !self.allow_local_files {
                return Err("source_url: local files are not allowed here (sources.allow_local_files)".into());
            }
            return if url == "file://" { Err("source_url: file:// needs a path".into()) } else { Ok(()) };
        }
        if let Some(device) = url.strip_prefix("v4l2://") {
            if !self.allow_devices {
                return Err("source_url: devices are not allowed here (sources.allow_devices)".into());
            }
            return if device.is_empty() { Err("source_url: v4l2:// needs a device".into()) } else { Ok(()) };
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("source_url must be a URL with one of the schemes {:?}", self.schemes));
        };
        if !self.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(format!("source_url scheme {scheme:?} is not allowed (allowed: {:?})", self.schemes));
        }
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = if let Some(bracketed) = host_port.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default()
        } else {
            host_port.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err("source_url has no host".into());
        }
        let host = host.to_ascii_lowercase();
        let allowed = self.hosts.is_empty()
            || self.hosts.iter().any(|entry| {
                let entry = entry.to_ascii_lowercase();
                match entry.strip_prefix('.') {
                    Some(domain) => host == domain || host.ends_with(&entry),
                    None => host == entry,
                }
            });
        if !allowed {
            return Err(format!("source_url host {host:?} is not allowed (sources.hosts)"));
        }
        Ok(())
    }
}

/// Live states of the running streams, by id (filled by the service's supervisor).
pub type StatusBoard = Arc<RwLock<HashMap<Uuid, StreamStatus>>>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// This instance's name among the ingest instances ([`crate::ownership`]).
    pub instance: String,
    /// Fetches a stream's frame from the instance running it.
    pub peers: PeerClient,
    /// The database.
    pub pool: PgPool,
    /// Live states.
    pub statuses: StatusBoard,
    /// The streams' last analysed frames.
    pub snapshots: SnapshotBoard,
    /// The streams' live views.
    pub live: LiveViews,
    /// Which source URLs streams may have.
    pub sources: SourcePolicy,
}

impl axum::extract::FromRef<ApiState> for PgPool {
    fn from_ref(state: &ApiState) -> PgPool {
        state.pool.clone()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().with_state(state).split_for_parts();
    router.merge(openapi::route(&openapi()))
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(fetch, replace, change, remove))
        .routes(routes!(restart))
        .routes(routes!(snapshot))
        .routes(routes!(frame))
        .routes(routes!(live))
}

/// The API's OpenAPI document (`GET /openapi.json`, kept in `schemas/openapi/ingest.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(
        routes().into_openapi(),
        "Sightline ingest API",
        "The cameras and video files ingest analyses, with each one's live state and last analysed frame. \
         Reading needs any role (viewers get no source URL, only admins see a failure's cause, and viewers \
         see frames only with every face blurred, where the stream allows it); changes need an operator or admin. Validation errors begin with the field they are about.",
    )
}

/// A stream with its live state.
#[derive(Debug, Serialize, ToSchema)]
struct StreamView {
    /// The stream as stored; `source_url` with its credentials masked but for admins, and empty for
    /// viewers.
    #[serde(flatten)]
    stream: Stream,
    /// The ingest instance running it; null while none does (disabled, or not yet taken).
    owner: Option<String>,
    /// What the stream is doing now.
    state: LiveState,
}

/// What a stream's worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PhaseName {
    /// Enabled, not yet picked up by a worker.
    Pending,
    /// Not analysed.
    Disabled,
    /// Opening the source.
    Starting,
    /// Analysing frames.
    Running,
    /// The source failed; it is opened again after `retry_in_ms`.
    Reconnecting,
    /// The source cannot be analysed (see `last_error`).
    Failed,
    /// A video file analysed to its end.
    Finished,
    /// Stopped (the service is shutting down, or the stream was changed).
    Stopped,
}

/// A stream's live state; the counters are null while no worker runs it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct LiveState {
    /// What it is doing.
    phase: PhaseName,
    /// While reconnecting: when the next attempt is, ms from now.
    retry_in_ms: Option<u64>,
    /// Since when the stream has been running, or not running (the latest change between the
    /// two), ms since the epoch: "running since", "reconnecting since". Null while no worker runs it.
    #[serde(default)]
    since_ms: Option<i64>,
    /// When the last frame was analysed, ms since the epoch.
    #[serde(default)]
    last_frame_ms: Option<i64>,
    /// Why the source failed last, in words a person can act on ("connection refused by
    /// 10.0.0.7:554", "authentication failed: …"); viewers are told only that it failed. While the
    /// stream runs again it is the last interruption.
    last_error: Option<String>,
    /// When the source failed last, ms since the epoch.
    #[serde(default)]
    last_error_ms: Option<i64>,
    /// GStreamer's whole text of the last failure (admins only; it may name hosts, ports and paths).
    #[serde(default)]
    last_error_detail: Option<String>,
    /// Analysed frames per second, over the last second or so.
    fps: Option<f32>,
    /// Frames analysed.
    frames: Option<u64>,
    /// Frames skipped because analysis was busy or the source skipped them.
    frames_dropped: Option<u64>,
    /// Reconnects so far.
    reconnects: Option<u32>,
    /// Detection events the broker acknowledged.
    events_delivered: Option<u64>,
    /// Detection events that could not be delivered.
    events_failed: Option<u64>,
    /// Why detections are not reaching Kafka, while they are not.
    delivery_error: Option<String>,
    /// The last analysed frame (`GET /v1/streams/{id}/snapshot`); null: none.
    snapshot: Option<SnapshotView>,
}

impl From<&crate::snapshot::Snapshot> for SnapshotView {
    fn from(snapshot: &crate::snapshot::Snapshot) -> Self {
        Self { capture_ms: snapshot.capture_ms, faces: snapshot.faces, bodies: snapshot.bodies }
    }
}

/// The HTTP client an instance asks the others with.
pub type PeerClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, axum::body::Body>;

/// A client for [`ApiState::peers`].
pub fn peer_client() -> PeerClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// How long an instance waits for another's frame.
const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// When a stream's last analysed frame was captured, and what it shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SnapshotView {
    /// Capture time, ms since the epoch.
    capture_ms: i64,
    /// Faces detected (drawn in green).
    faces: usize,
    /// Bodies detected (drawn in blue).
    bodies: usize,
}

/// The live state of a stream: its worker's `status`, or pending or disabled without one, and its
/// last analysed frame. The failure's text is whole (the API masks it by role).
pub(crate) fn live_state(status: Option<StreamStatus>, snapshot: Option<SnapshotView>, enabled: bool) -> LiveState {
    let Some(s) = status else {
        return LiveState {
            phase: if enabled { PhaseName::Pending } else { PhaseName::Disabled },
            retry_in_ms: None,
            since_ms: None,
            last_frame_ms: None,
            last_error: None,
            last_error_ms: None,
            last_error_detail: None,
            fps: None,
            frames: None,
            frames_dropped: None,
            reconnects: None,
            events_delivered: None,
            events_failed: None,
            delivery_error: None,
            snapshot,
        };
    };
    let (phase, retry_in_ms) = match s.phase {
        Phase::Starting => (PhaseName::Starting, None),
        Phase::Running => (PhaseName::Running, None),
        Phase::Reconnecting { retry_in, .. } => {
            (PhaseName::Reconnecting, Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)))
        }
        Phase::Failed => (PhaseName::Failed, None),
        Phase::Finished => (PhaseName::Finished, None),
        Phase::Stopped => (PhaseName::Stopped, None),
    };
    LiveState {
        phase,
        retry_in_ms,
        since_ms: Some(s.since_ms),
        last_frame_ms: s.last_frame_ms,
        last_error: s.last_error,
        last_error_ms: s.last_error_ms,
        last_error_detail: s.last_error_detail,
        fps: Some(s.fps),
        frames: Some(s.frames),
        frames_dropped: Some(s.frames_dropped),
        reconnects: Some(s.reconnects),
        events_delivered: Some(s.events_delivered),
        events_failed: Some(s.events_failed),
        delivery_error: s.delivery_error,
        snapshot,
    }
}

/// A stream's live lease: the instance running it, where its API answers, and the state it wrote.
#[derive(Debug, Clone)]
struct Lease {
    instance: String,
    api_url: String,
    state: Option<serde_json::Value>,
}

/// The live leases of `id` (None: of every stream).
async fn leases(pool: &PgPool, id: Option<Uuid>) -> Result<HashMap<Uuid, Lease>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT stream_id, instance, api_url, status FROM stream_leases \
         WHERE expires_at > now() AND ($1::uuid IS NULL OR stream_id = $1)",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, instance, api_url, state)| (id, Lease { instance, api_url, state })).collect())
}

/// The stream as `role` may see it: admins get the source URL and the failure's whole text;
/// operators and analysts the URL with its credentials masked ([`mask_url`]) and the failure in
/// words (which names no more than the masked URL: its host and port, or that the file is
/// missing); viewers no URL and only that it failed. The
/// state is this instance's when it runs the stream, else the one its owner last wrote.
fn view(mut stream: Stream, state: &ApiState, role: Role, lease: Option<&Lease>) -> StreamView {
    let status = state.statuses.read().ok().and_then(|s| s.get(&stream.id).cloned());
    let snapshot = state.snapshots.read().ok().and_then(|s| s.get(&stream.id).map(SnapshotView::from));
    let owner = lease.map(|l| l.instance.clone());
    let written = lease
        .filter(|l| l.instance != state.instance)
        .and_then(|l| l.state.clone())
        .and_then(|written| serde_json::from_value::<LiveState>(written).ok());
    let mut live = match (status, written) {
        (None, Some(written)) if stream.enabled => written,
        (status, _) => live_state(status, snapshot, stream.enabled),
    };
    // The failure in words for those who run or watch cameras; GStreamer's whole text for admins;
    // viewers learn only that it failed.
    if role != Role::Admin {
        live.last_error_detail = None;
    }
    if role == Role::Viewer {
        live.last_error = live.last_error.map(|_| "the camera could not be opened or read".to_owned());
    }
    match role {
        Role::Admin => {}
        Role::Operator | Role::Analyst => stream.source_url = mask_url(&stream.source_url),
        Role::Viewer => stream.source_url.clear(),
    }
    StreamView { stream, owner, state: live }
}

/// The columns of a [`Stream`], in its field order.
pub(crate) const COLUMNS: &str = "id, name, source_url, site, analysis_fps, roi, face_min_score, person_min_score, \
     enabled, count_only_unmatched_faces, blur_faces_for_viewers, media_start_ms, (extract(epoch from finished_at) * 1000)::bigint AS finished_ms";

type StreamQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, Stream, sqlx::postgres::PgArguments>;

/// Binds the input's fields as parameters $1..$11, in the order INSERT and UPDATE name them.
fn bind_input<'q>(query: StreamQuery<'q>, input: &'q StreamInput) -> StreamQuery<'q> {
    query
        .bind(input.name.trim())
        .bind(input.source_url.trim())
        .bind(&input.site)
        .bind(input.analysis_fps)
        .bind(input.roi.map(sqlx::types::Json))
        .bind(input.face_min_score)
        .bind(input.person_min_score)
        .bind(input.enabled)
        .bind(input.media_start_ms)
        .bind(input.count_only_unmatched_faces)
        .bind(input.blur_faces_for_viewers)
}

fn parse_input(
    body: Result<Json<StreamInput>, axum::extract::rejection::JsonRejection>,
    sources: &SourcePolicy,
) -> Result<StreamInput, ApiError> {
    let Json(input) = body.map_err(ApiError::invalid_json)?;
    input.validate(sources).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    Ok(input)
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("{id:?} is not a stream id")))
}

/// Lists the streams with their live state, by name (any role).
#[utoipa::path(get, path = "/v1/streams", tag = "streams", responses((status = 200, body = Vec<StreamView>)))]
async fn list(State(state): State<ApiState>, caller: Caller<AnyRole>) -> Result<Json<Vec<StreamView>>, ApiError> {
    let role = caller.role;
    let streams: Vec<Stream> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams ORDER BY name, id")).fetch_all(&state.pool).await?;
    let leases = leases(&state.pool, None).await?;
    Ok(Json(
        streams
            .into_iter()
            .map(|s| {
                let lease = leases.get(&s.id);
                view(s, &state, role, lease)
            })
            .collect(),
    ))
}

/// One stream with its live state (any role).
#[utoipa::path(get, path = "/v1/streams/{id}", tag = "streams", params(("id" = Uuid, Path, description = "The stream.")), responses((status = 200, body = StreamView)))]
async fn fetch(
    State(state): State<ApiState>,
    caller: Caller<AnyRole>,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    let id = parse_id(&id)?;
    let stream: Option<Stream> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?;
    let stream = stream.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no stream {id}")))?;
    let lease = leases(&state.pool, Some(id)).await?;
    Ok(Json(view(stream, &state, caller.role, lease.get(&id))))
}

/// Adds a stream; an enabled one starts at once (operators and admins).
#[utoipa::path(post, path = "/v1/streams", tag = "streams", request_body = StreamInput, responses((status = 201, body = StreamView)))]
async fn create(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    body: Result<Json<StreamInput>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    let input = parse_input(body, &state.sources)?;
    let sql = format!(
        "INSERT INTO streams (name, source_url, site, analysis_fps, roi, face_min_score, person_min_score, enabled, \
         media_start_ms, count_only_unmatched_faces, blur_faces_for_viewers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    );
    let stream: Stream = bind_input(sqlx::query_as(&sql), &input).fetch_one(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(view(stream, &state, caller.role, None))))
}

/// Replaces a stream's settings and starts it again (operators and admins).
///
/// A `source_url` sent back as this API showed it, credentials masked, keeps the stored URL.
#[utoipa::path(put, path = "/v1/streams/{id}", tag = "streams", params(("id" = Uuid, Path, description = "The stream.")), request_body = StreamInput,
    responses((status = 200, body = StreamView)))]
async fn replace(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
    body: Result<Json<StreamInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<StreamView>, ApiError> {
    let id = parse_id(&id)?;
    let Json(input) = body.map_err(ApiError::invalid_json)?;
    update(&state, caller, id, |_| input).await
}

/// Changes the settings it names and starts the stream again (operators and admins).
///
/// `{"enabled": false}` disables a stream; `roi` or `media_start_ms` sent as null clear theirs.
#[utoipa::path(patch, path = "/v1/streams/{id}", tag = "streams", params(("id" = Uuid, Path, description = "The stream.")), request_body = StreamPatch,
    responses((status = 200, body = StreamView)))]
async fn change(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
    body: Result<Json<StreamPatch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<StreamView>, ApiError> {
    let id = parse_id(&id)?;
    let Json(patch) = body.map_err(ApiError::invalid_json)?;
    update(&state, caller, id, |stored| patch.applied_to(stored)).await
}

/// Replaces stream `id` with what `change` makes of the stored stream, validated; the stored URL stays
/// when the new one is the stored one as masked for operators. Starts the stream again.
async fn update(
    state: &ApiState,
    caller: Caller<Manages>,
    id: Uuid,
    change: impl FnOnce(Stream) -> StreamInput,
) -> Result<Json<StreamView>, ApiError> {
    let mut transaction = state.pool.begin().await?;
    let stored: Option<Stream> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
    let stored = stored.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no stream {id}")))?;
    let stored_url = stored.source_url.clone();
    let mut input = change(stored);
    if input.source_url.trim() == mask_url(&stored_url) {
        input.source_url = stored_url;
    }
    input.validate(&state.sources).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let sql = format!(
        "UPDATE streams SET name = $1, source_url = $2, site = $3, analysis_fps = $4, roi = $5, face_min_score = $6, \
         person_min_score = $7, enabled = $8, media_start_ms = $9, count_only_unmatched_faces = $10, \
         blur_faces_for_viewers = $11, finished_at = NULL, updated_at = now() WHERE id = $12 RETURNING {COLUMNS}"
    );
    let stream: Stream = bind_input(sqlx::query_as(&sql), &input).bind(id).fetch_one(&mut *transaction).await?;
    transaction.commit().await?;
    let lease = leases(&state.pool, Some(id)).await?;
    Ok(Json(view(stream, state, caller.role, lease.get(&id))))
}

/// Which copy of a frame is asked for.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FrameQuery {
    /// `blurred`: the copy with every face blurred, the only one viewers get, and only of a stream
    /// with `blur_faces_for_viewers`; `whole` (the default for analysts and up): faces as seen.
    #[param(inline)]
    faces: Option<FacesShown>,
}

/// The stream's last analysed frame, JPEG, with its detections drawn.
///
/// Renewed every second while the stream runs; the capture time is in `X-Capture-Ms`. 404 while
/// the stream has no analysed frame. Analysts and up see faces; viewers see the frames of a stream
/// with `blur_faces_for_viewers` with every face blurred (looks at whole faces are audited).
#[utoipa::path(get, path = "/v1/streams/{id}/snapshot", tag = "streams", params(("id" = Uuid, Path, description = "The stream."), FrameQuery),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the frame",
        headers(("X-Capture-Ms" = i64, description = "When the frame was captured, ms since the epoch")))))]
async fn snapshot(
    State(state): State<ApiState>,
    caller: Result<Caller<AnyRole>, ApiError>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<FrameQuery>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let faces = query.map_err(ApiError::invalid_query)?.0.faces;
    latest_frame(&state, caller, &id, faces, &headers, Representation::Jpeg).await
}

/// The stream's last analysed frame with what was detected in it: the JPEG (base64, detections
/// drawn) and each box with its track, as fractions of the frame.
///
/// For the camera wall, which puts the names of identified people on their boxes: the boxes are
/// those of this very JPEG. Renewed every second while the stream runs; 404 while the stream has
/// no analysed frame. Who sees faces: as for the snapshot.
#[utoipa::path(get, path = "/v1/streams/{id}/frame", tag = "streams", params(("id" = Uuid, Path, description = "The stream."), FrameQuery),
    responses((status = 200, body = FrameView)))]
async fn frame(
    State(state): State<ApiState>,
    caller: Result<Caller<AnyRole>, ApiError>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<FrameQuery>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let faces = query.map_err(ApiError::invalid_query)?.0.faces;
    latest_frame(&state, caller, &id, faces, &headers, Representation::Json).await
}

/// How a live view is asked for.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    /// As for the frame: `blurred` or `whole` (the default for analysts and up).
    #[param(inline)]
    faces: Option<FacesShown>,
    /// Most frames a second sent (1-30; default: every analysed frame). A wall of many cameras asks
    /// for fewer.
    fps: Option<u32>,
}

/// The stream's live view: its analysed frames as they are analysed, with their detections drawn,
/// as `multipart/x-mixed-replace` (MJPEG: an `<img>` plays it). Each part is a JPEG with its capture
/// time in `X-Capture-Ms` and, in `X-Frame` (JSON), its size and boxes with their tracks, for
/// naming identified people on it. The view lasts while the stream runs here (it ends when the
/// stream stops or moves to another instance: ask again); 404 while the stream has no analysed
/// frame, as for the frame. Who sees faces: as for the snapshot;
/// a look with faces whole is audited. However many watch, the camera has one connection, the
/// stream's; an instance that does not run the stream relays it once for all its viewers.
#[utoipa::path(get, path = "/v1/streams/{id}/live", tag = "streams", params(("id" = Uuid, Path, description = "The stream."), LiveQuery),
    responses((status = 200, content_type = "multipart/x-mixed-replace", body = Vec<u8>, description = "the analysed frames, one JPEG part each"),
        (status = 404, description = "no such stream, or it is not running")))]
async fn live(
    State(state): State<ApiState>,
    caller: Result<Caller<AnyRole>, ApiError>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let query = query.map_err(ApiError::invalid_query)?.0;
    let fps = query.fps.unwrap_or(MAX_LIVE_FPS);
    if !(1..=MAX_LIVE_FPS).contains(&fps) {
        return Err(ApiError::bad_request(format!("fps must be 1-{MAX_LIVE_FPS}, not {fps}")));
    }
    let id = parse_id(&id)?;
    let (user, faces) = frame_viewer(&state, caller, id, query.faces, &headers).await?;
    // A stream that has not read a frame yet (or cannot: a camera not answering) has no view.
    let analysed = state.snapshots.read().is_ok_and(|snapshots| snapshots.contains_key(&id));
    let viewer = match analysed.then(|| state.live.watch_local(id, faces)).flatten() {
        Some(viewer) => viewer,
        // Peers relay only what they run: a ticket's request is never relayed further.
        None if user.is_none() => return Err(no_frame(&state.pool, id).await),
        None => {
            let owner = leases(&state.pool, Some(id)).await?.remove(&id).filter(|l| l.instance != state.instance);
            let Some(owner) = owner else { return Err(no_frame(&state.pool, id).await) };
            let relaying = state.clone();
            state
                .live
                .relayed(id, faces, move |sender| {
                    tokio::spawn(relay(relaying, owner, id, faces, sender));
                })
                .ok_or_else(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the live views are unavailable".into()))?
        }
    };
    if let Some(user) = user
        && faces == FacesShown::Whole
    {
        audit::record_view(&state.pool, &user, "ingest", "video.live", id.to_string()).await?;
    }
    let gap = std::time::Duration::from_secs(1) / fps;
    let parts = futures::stream::unfold((viewer, None::<tokio::time::Instant>), move |(mut viewer, sent)| async move {
        if let Some(sent) = sent {
            tokio::time::sleep_until(sent + gap).await;
        }
        let frame = viewer.next().await?;
        Some((Ok::<_, std::convert::Infallible>(frame.part()), (viewer, Some(tokio::time::Instant::now()))))
    });
    Ok((
        [
            (header::CONTENT_TYPE, crate::live::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
            // nginx passes each part on as it comes.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        axum::body::Body::from_stream(parts),
    )
        .into_response())
}

/// Most frames a second of a live view (the most a stream is analysed at).
const MAX_LIVE_FPS: u32 = 30;

/// The instance's one relay of stream `id` (copy `faces`) from `owner`, which runs it: reads the
/// owner's live view (asked with a single-use ticket) and passes its frames to this instance's
/// viewers, until the last of them leaves or the owner's view ends.
async fn relay(
    state: ApiState,
    owner: Lease,
    id: Uuid,
    faces: FacesShown,
    sender: tokio::sync::watch::Sender<Option<LiveFrame>>,
) {
    use futures::StreamExt as _;
    let relayed = async {
        let ticket = sightline_common::auth::service_ticket(&state.pool, id, PEER_TICKET_SECONDS)
            .await
            .map_err(|e| format!("no ticket: {e}"))?;
        let request = owner_request(&owner, id, "live", faces, ticket).map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(PEER_TIMEOUT, state.peers.request(request))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let multipart =
            answer.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"multipart/"));
        if answer.status() != StatusCode::OK || !multipart {
            return Err(format!("answered {} with {:?}", answer.status(), answer.headers().get(header::CONTENT_TYPE)));
        }
        let mut body = axum::body::Body::new(answer.into_body()).into_data_stream();
        let mut reader = PartReader::default();
        loop {
            let chunk = tokio::select! {
                chunk = body.next() => chunk,
                () = sender.closed() => return Ok(()),
            };
            let Some(chunk) = chunk else { return Ok(()) };
            reader.push(&chunk.map_err(|e| format!("reading the view: {e}"))?);
            while let Some(frame) = reader.next_frame()? {
                sender.send_replace(Some(frame));
            }
        }
    };
    if let Err(why) = relayed.await {
        tracing::warn!(stream = %id, owner = %owner.instance, %why, "relaying a live view from the stream's owner failed");
    }
    state.live.relay_ended(id, faces, &sender);
}

/// A stream's last analysed frame with its boxes (`GET /v1/streams/{id}/frame`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct FrameView {
    /// Capture time, ms since the epoch.
    capture_ms: i64,
    /// The frame's width, pixels.
    width: u32,
    /// Its height, pixels.
    height: u32,
    /// What was detected, each with its track.
    boxes: Vec<crate::snapshot::SnapshotBox>,
    /// The JPEG, base64.
    jpeg: String,
    /// Whether its faces are blurred.
    #[serde(default)]
    faces_blurred: bool,
}

impl FrameView {
    /// `snapshot` with `jpeg`, one of its copies.
    fn new(snapshot: &crate::snapshot::Snapshot, jpeg: &[u8], faces_blurred: bool) -> Self {
        use base64::Engine as _;
        Self {
            capture_ms: snapshot.capture_ms,
            width: snapshot.width,
            height: snapshot.height,
            boxes: snapshot.boxes.clone(),
            jpeg: base64::engine::general_purpose::STANDARD.encode(jpeg),
            faces_blurred,
        }
    }
}

/// How a frame is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representation {
    /// The JPEG, its capture time in `X-Capture-Ms` (`/snapshot`).
    Jpeg,
    /// A [`FrameView`] (`/frame`).
    Json,
}

impl Representation {
    /// The route's last segment.
    fn segment(self) -> &'static str {
        match self {
            Representation::Jpeg => "snapshot",
            Representation::Json => "frame",
        }
    }
}

/// The last analysed frame of stream `id` as `representation`, with `faces` shown as asked (or as
/// the caller's role allows): this instance's when it runs the stream, else the owner's.
async fn latest_frame(
    state: &ApiState,
    caller: Result<Caller<AnyRole>, ApiError>,
    id: &str,
    faces: Option<FacesShown>,
    headers: &axum::http::HeaderMap,
    representation: Representation,
) -> Result<axum::response::Response, ApiError> {
    let id = parse_id(id)?;
    let (user, faces) = frame_viewer(state, caller, id, faces, headers).await?;
    let snapshot = state.snapshots.read().ok().and_then(|s| s.get(&id).cloned());
    // A user asking for a stream another instance runs gets that instance's frame.
    let owner = match (&snapshot, &user) {
        (None, Some(_)) => leases(&state.pool, Some(id)).await?.remove(&id).filter(|l| l.instance != state.instance),
        _ => None,
    };
    // The copy asked for (a blurred one is rendered only while the stream shows viewers frames).
    let copy = snapshot.map(|snapshot| match faces {
        FacesShown::Whole => Some((snapshot.jpeg.clone(), snapshot)),
        FacesShown::Blurred => snapshot.blurred_jpeg.clone().map(|jpeg| (jpeg, snapshot)),
    });
    let response = match (copy, owner) {
        (Some(Some((jpeg, snapshot))), _) => match representation {
            Representation::Jpeg => frame_response(axum::body::Bytes::from_owner(jpeg), snapshot.capture_ms),
            Representation::Json => frame_json(&FrameView::new(&snapshot, &jpeg, faces == FacesShown::Blurred)),
        },
        (None, Some(owner)) => from_owner(state, &owner, id, faces, representation).await?,
        (Some(None), _) | (None, None) => return Err(no_frame(&state.pool, id).await),
    };
    // A user's look at a camera's frame with faces whole is recorded once per stream in the audit
    // window, by the instance the user asked; a peer serving it for that instance records nothing.
    if let Some(user) = user
        && faces == FacesShown::Whole
        && response.status().is_success()
    {
        audit::record_view(&state.pool, &user, "ingest", "image.snapshot", id.to_string()).await?;
    }
    Ok(response)
}

/// Who asks for frames of stream `id`, and which copy they get. Another instance asking for a
/// stream this one runs shows a ticket of its own for this stream (it checked its caller and asks
/// for the copy the caller may see): no user. Anyone else is a user who sees faces whole if their
/// role sees people, else blurred if the stream allows it.
async fn frame_viewer(
    state: &ApiState,
    caller: Result<Caller<AnyRole>, ApiError>,
    id: Uuid,
    faces: Option<FacesShown>,
    headers: &axum::http::HeaderMap,
) -> Result<(Option<sightline_common::auth::Principal>, FacesShown), ApiError> {
    match headers.get(PEER_TICKET_HEADER) {
        Some(ticket) => {
            let ticket = ticket.to_str().unwrap_or_default();
            if !sightline_common::auth::redeem_service_ticket(&state.pool, ticket, id).await? {
                return Err(ApiError(StatusCode::UNAUTHORIZED, "unknown, used or expired peer ticket".into()));
            }
            Ok((None, faces.unwrap_or(FacesShown::Whole)))
        }
        None => {
            let caller = caller?;
            let faces = match caller.role.can_see_people() {
                true => faces.unwrap_or(FacesShown::Whole),
                false => FacesShown::Blurred,
            };
            if faces == FacesShown::Blurred {
                shows_blurred_frames(&state.pool, id).await?;
            }
            Ok((Some(caller.principal), faces))
        }
    }
}

/// 404 for stream `id`, which has no frame here: why.
async fn no_frame(pool: &PgPool, id: Uuid) -> ApiError {
    let exists = sqlx::query("SELECT 1 FROM streams WHERE id = $1").bind(id).fetch_optional(pool).await;
    match exists {
        Err(error) => error.into(),
        Ok(Some(_)) => ApiError::not_found(format!(
            "stream {id} has no analysed frame yet (it is not running, has not read a frame, \
             or is a file that finished on another instance: restart it to see it again)"
        )),
        Ok(None) => ApiError::not_found(format!("no stream {id}")),
    }
}

/// Passes when stream `id` shows its frames to viewers with faces blurred; 403 when it does not,
/// 404 when there is no such stream.
async fn shows_blurred_frames(pool: &PgPool, id: Uuid) -> Result<(), ApiError> {
    let shows: Option<bool> = sqlx::query_scalar("SELECT blur_faces_for_viewers FROM streams WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    match shows {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "stream {id} shows its frames to analysts and up only; an operator can let viewers see them \
                 with faces blurred (blur_faces_for_viewers)"
            ),
        )),
        None => Err(ApiError::not_found(format!("no stream {id}"))),
    }
}

/// How long a peer ticket may wait to be used, in seconds (the request follows at once).
const PEER_TICKET_SECONDS: u32 = 10;

/// Largest frame taken from another instance.
const MAX_PEER_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A frame as this API answers it: the JPEG, not cached, with its capture time.
fn frame_response(jpeg: axum::body::Bytes, capture_ms: i64) -> axum::response::Response {
    let mut response = sightline_common::api::jpeg(jpeg, "no-store");
    response
        .headers_mut()
        .insert(header::HeaderName::from_static("x-capture-ms"), header::HeaderValue::from(capture_ms));
    response
}

/// A frame with its boxes as this API answers it: JSON, not cached (it shows faces).
fn frame_json(frame: &FrameView) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    ([(header::CACHE_CONTROL, "no-store")], Json(frame)).into_response()
}

/// A request to `owner`, the instance running stream `id`, for the stream's `segment` (`snapshot`,
/// `frame`, `live`) in copy `faces`, with `ticket`, a single-use ticket of this instance for the
/// stream: never the caller's credentials, whatever address the owner's lease names.
fn owner_request(
    owner: &Lease,
    id: Uuid,
    segment: &str,
    faces: FacesShown,
    ticket: String,
) -> Result<axum::http::Request<axum::body::Body>, axum::http::Error> {
    let uri = format!("{}/v1/streams/{id}/{segment}?faces={}", owner.api_url.trim_end_matches('/'), faces.as_str());
    axum::http::Request::get(uri).header(PEER_TICKET_HEADER, ticket).body(axum::body::Body::empty())
}

/// The frame of stream `id` from the instance running it, asked with a single-use ticket for this
/// stream (never the caller's credentials, whatever address the owner's lease names). Only a JPEG
/// (or a frame with its boxes, parsed) is taken back, and answered as this instance's own: nothing
/// else of the answer (its cookies, its other headers) reaches the caller. A 404 there is a 404
/// here; anything else is a 502.
async fn from_owner(
    state: &ApiState,
    owner: &Lease,
    id: Uuid,
    faces: FacesShown,
    representation: Representation,
) -> Result<axum::response::Response, ApiError> {
    let unavailable = |why: String| {
        tracing::warn!(stream = %id, owner = %owner.instance, %why, "fetching a frame from the stream's owner failed");
        ApiError(
            StatusCode::BAD_GATEWAY,
            format!("the instance running stream {id} ({}) did not answer with a frame", owner.instance),
        )
    };
    let ticket = sightline_common::auth::service_ticket(&state.pool, id, PEER_TICKET_SECONDS).await?;
    let request =
        owner_request(owner, id, representation.segment(), faces, ticket).map_err(|e| unavailable(e.to_string()))?;
    let exchange = async {
        let answer = state.peers.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = answer.into_parts();
        let body = axum::body::to_bytes(axum::body::Body::new(body), MAX_PEER_FRAME_BYTES)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok::<_, String>((parts, body))
    };
    let (parts, body) = tokio::time::timeout(PEER_TIMEOUT, exchange)
        .await
        .map_err(|_| unavailable("timed out".into()))?
        .map_err(unavailable)?;
    if parts.status == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found(format!("stream {id} has no analysed frame yet")));
    }
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    if parts.status != StatusCode::OK {
        return Err(unavailable(format!(
            "answered {} with {:?}",
            parts.status,
            parts.headers.get(header::CONTENT_TYPE)
        )));
    }
    match representation {
        Representation::Jpeg => {
            if content_type != Some(b"image/jpeg") || !body.starts_with(&[0xFF, 0xD8, 0xFF]) {
                return Err(unavailable(format!("answered {:?}, not a JPEG", parts.headers.get(header::CONTENT_TYPE))));
            }
            let capture_ms = parts
                .headers
                .get("x-capture-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| unavailable("no capture time".into()))?;
            Ok(frame_response(body, capture_ms))
        }
        Representation::Json => {
            let frame: FrameView =
                serde_json::from_slice(&body).map_err(|e| unavailable(format!("not a frame with boxes: {e}")))?;
            Ok(frame_json(&frame))
        }
    }
}

/// Analyses the stream again from its start: a finished file plays again, a live stream reconnects
/// (operators and admins).
#[utoipa::path(post, path = "/v1/streams/{id}/restart", tag = "streams", params(("id" = Uuid, Path, description = "The stream.")), responses((status = 202, body = StreamView)))]
async fn restart(
    State(state): State<ApiState>,
    caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    let id = parse_id(&id)?;
    let sql = format!("UPDATE streams SET finished_at = NULL, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}");
    let stream: Option<Stream> = sqlx::query_as(&sql).bind(id).fetch_optional(&state.pool).await?;
    let stream = stream.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no stream {id}")))?;
    let lease = leases(&state.pool, Some(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(view(stream, &state, caller.role, lease.get(&id)))))
}

/// Deletes a stream; its worker stops (operators and admins).
#[utoipa::path(delete, path = "/v1/streams/{id}", tag = "streams", params(("id" = Uuid, Path, description = "The stream.")), responses((status = 204, description = "deleted")))]
async fn remove(
    State(state): State<ApiState>,
    _caller: Caller<Manages>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let deleted = sqlx::query("DELETE FROM streams WHERE id = $1").bind(id).execute(&state.pool).await?.rows_affected();
    if deleted == 0 {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no stream {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kept_openapi_document_is_the_one_the_code_generates() {
        if let Err(difference) = sightline_common::openapi::check_kept(&super::openapi(), "ingest") {
            panic!("{difference}");
        }
    }
}
