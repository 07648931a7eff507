//! The scene of an alert: the camera's analysed frame when the alert was raised, with every box
//! detected in it and the track each belongs to, so a guard sees the person in the place, outlined.
//!
//! Right after an alert is stored, the raising notifier asks the ingest instance running the stream
//! (its lease in `stream_leases` names its API) for the stream's frame (`GET /v1/streams/{id}/frame`)
//! with a single-use service ticket for that stream, never a user's credentials. A frame older than
//! the report that raised the alert may not show the person yet, so it asks again, a few times, until
//! the frame is at least as recent. The frame is stored in the object store
//! (`scenes/<day>/<stream>/<alert id>`) and the rest in `alert_scenes` beside its alert. It is a
//! best effort: no instance running the stream, or one that does not answer in time, leaves the alert
//! without a scene (said so on screen), never delays the alert or its deliveries.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sightline_common::objects::{MediaKind, ObjectStore, media_key};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long one request for a frame may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Requests for a frame at most per alert, while the frame is older than the alert's report.
const TRIES: u32 = 4;

/// Pause between them: a stream's frame is renewed every second.
const PAUSE: Duration = Duration::from_millis(600);

/// Scenes fetched at once at most; alerts beyond go without one rather than queue.
const IN_FLIGHT: usize = 8;

/// A box on a scene, as ingest draws it: kind, track, fractions of the frame.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SceneBox {
    /// `face` or `body`.
    pub kind: String,
    /// The track it belongs to.
    pub track_id: String,
    /// Left edge, fraction of the width.
    pub x: f32,
    /// Top edge, fraction of the height.
    pub y: f32,
    /// Width, fraction of the frame's.
    pub width: f32,
    /// Height, fraction of the frame's.
    pub height: f32,
}

/// An ingest frame as `GET /v1/streams/{id}/frame` answers it.
#[derive(Debug, Deserialize)]
struct Frame {
    capture_ms: i64,
    width: u32,
    height: u32,
    boxes: Vec<SceneBox>,
    jpeg: String,
}

/// Fetches and keeps alerts' scenes.
#[derive(Clone)]
pub struct Scenes {
    pool: PgPool,
    objects: ObjectStore,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
}

impl Scenes {
    /// Scenes kept in `pool`, their frames in `objects`.
    pub fn new(pool: PgPool, objects: ObjectStore) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
        Ok(Self { pool, objects, client, slots: Arc::new(Semaphore::new(IN_FLIGHT)) })
    }

    /// Keeps the scene of alert `alert`, raised by a report of `stream_id` captured at
    /// `report_ms`, in the background.
    pub fn keep(&self, alert: Uuid, stream_id: &str, report_ms: i64) {
        let Ok(stream) = stream_id.parse::<Uuid>() else { return };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::info!(%alert, "no scene kept: too many being fetched");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            match this.fetch_and_store(alert, stream, report_ms).await {
                Ok(true) => tracing::debug!(%alert, "scene kept"),
                Ok(false) => tracing::info!(%alert, "no scene kept: no ingest instance runs the stream"),
                Err(error) => tracing::info!(%alert, %error, "no scene kept"),
            }
            drop(slot);
        });
    }

    /// The scene fetched and stored: false when no instance runs the stream.
    async fn fetch_and_store(&self, alert: Uuid, stream: Uuid, report_ms: i64) -> anyhow::Result<bool> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT api_url FROM stream_leases WHERE stream_id = $1 AND expires_at > now()")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?;
        let Some(api_url) = owner else { return Ok(false) };
        let url = format!("{}/v1/streams/{stream}/frame", api_url.trim_end_matches('/'));
        let mut frame = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(PAUSE).await;
            }
            let ticket = sightline_common::auth::service_ticket(&self.pool, stream, 10).await?;
            let answer =
                self.client.get(&url).header(sightline_common::auth::PEER_TICKET_HEADER, ticket).send().await?;
            if !answer.status().is_success() {
                anyhow::bail!("the stream's ingest instance answered {}", answer.status());
            }
            let fetched: Frame = serde_json::from_slice(&answer.bytes().await?)?;
            let recent = fetched.capture_ms >= report_ms;
            frame = Some(fetched);
            if recent {
                break;
            }
        }
        let Some(frame) = frame else { return Ok(false) };
        let jpeg = base64::engine::general_purpose::STANDARD.decode(&frame.jpeg)?;
        let key = media_key(MediaKind::Scene, frame.capture_ms, &stream.to_string(), &alert.to_string());
        self.objects.put(&key, jpeg, "image/jpeg").await?;
        sqlx::query(
            "INSERT INTO alert_scenes (alert_id, capture_ms, width, height, boxes, object_key) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alert_id) DO NOTHING",
        )
        .bind(alert)
        .bind(frame.capture_ms)
        .bind(i32::try_from(frame.width).unwrap_or(i32::MAX))
        .bind(i32::try_from(frame.height).unwrap_or(i32::MAX))
        .bind(sqlx::types::Json(&frame.boxes))
        .bind(&key)
        .execute(&self.pool)
        .await?;
        Ok(true)
    }
}

/// A kept scene without its JPEG (`GET /v1/alerts/{id}/scene` serves that).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SceneView {
    /// When the frame was captured, ms since the epoch.
    pub capture_ms: i64,
    /// Its width, pixels.
    pub width: i32,
    /// Its height, pixels.
    pub height: i32,
    /// Every box detected in it, with its track (the alert's own is `track_id`).
    pub boxes: Vec<SceneBox>,
}

/// The scene of alert `id`, if one was kept.
pub async fn scene_of(pool: &PgPool, id: Uuid) -> Result<Option<SceneView>, sqlx::Error> {
    let row: Option<(i64, i32, i32, sqlx::types::Json<Vec<SceneBox>>)> =
        sqlx::query_as("SELECT capture_ms, width, height, boxes FROM alert_scenes WHERE alert_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(capture_ms, width, height, boxes)| SceneView { capture_ms, width, height, boxes: boxes.0 }))
}
