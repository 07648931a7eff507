//! Alerts' images in the object store (docs/warehouse.md, "Images"): the best shot of the report
//! that raised an alert is the object the writer stores for that report (same key, same bytes,
//! sealed as the report carried it), which the notifier stores too as it raises the alert, so the
//! image is there at once whichever of the two lands first; a scene's frame is stored under
//! `scenes/<day>/<stream>/<alert id>`. Reads open sealed best shots with the track's image key.
//! Alerts raised before keep their bytes in PostgreSQL, which reads still serve.

use sightline_common::api::ApiError;
use sightline_common::keys::KeyRing;
use sightline_common::objects::{ObjectError, ObjectStore, best_shot_content_type, best_shot_key, best_shot_object};
use sightline_common::sealing::{StoredImageError, open_stored_best_shot};
use sightline_schemas::v1::DetectionEvent;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Why an alert's image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// The object store failed.
    #[error("object store: {0}")]
    Objects(#[from] ObjectError),
    /// A sealed best shot did not open (its key unreadable, or the bytes altered).
    #[error(transparent)]
    Stored(#[from] StoredImageError),
}

impl From<ImageError> for ApiError {
    fn from(error: ImageError) -> Self {
        use axum::http::StatusCode;
        tracing::error!(%error, "reading an alert's image failed");
        match error {
            ImageError::Database(error) => error.into(),
            ImageError::Objects(error) => error.into(),
            ImageError::Stored(StoredImageError::Keys(_)) => {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, "the track keys are not answering; try again".into())
            }
            ImageError::Stored(_) => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored image does not open with its track's key".into(),
            ),
        }
    }
}

/// An alert's best shot as its row names it: bytes kept before #27, or the object's key and whether
/// it is sealed; and the track that opens it.
type StoredBestShot = (Option<Vec<u8>>, Option<String>, bool, String, String);

/// Where alerts' images are stored, and the keys that open sealed best shots.
#[derive(Clone)]
pub struct AlertImages {
    /// The object store.
    pub objects: ObjectStore,
    /// The track keys.
    pub keys: Arc<KeyRing>,
}

/// A best shot to store as an alert is raised: its key, its bytes, whether sealed.
#[derive(Debug, Clone)]
pub struct BestShotObject {
    /// The key the writer stores it under too.
    pub key: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Whether sealed.
    pub sealed: bool,
}

impl BestShotObject {
    /// The best shot of `detection`, if it carries one.
    pub fn of(detection: &DetectionEvent) -> Option<Self> {
        let (bytes, sealed) = best_shot_object(detection)?;
        Some(Self { key: best_shot_key(detection), bytes, sealed })
    }
}

impl AlertImages {
    /// Stores `object` in a task of its own (retried while the store is down), which the caller may
    /// wait for or leave to finish: the writer stores the same object anyway.
    pub fn store(&self, object: BestShotObject) -> tokio::task::JoinHandle<()> {
        let objects = self.objects.clone();
        tokio::spawn(async move {
            let content_type = best_shot_content_type(object.sealed);
            if let Err(error) = objects.put(&object.key, object.bytes, content_type).await {
                tracing::warn!(%error, "an alert's best shot was not stored (the writer stores it)");
            }
        })
    }

    /// The JPEG of alert `id`'s best shot: from the object store (opened with its track's key when
    /// sealed), or as kept in PostgreSQL for an alert raised before; `None` when it has none, or its
    /// key is destroyed, or the object is gone (erased or expired).
    pub async fn best_shot(&self, pool: &PgPool, id: Uuid) -> Result<Option<Vec<u8>>, ImageError> {
        let row: Option<StoredBestShot> = sqlx::query_as(
            "SELECT best_shot_jpeg, best_shot_key, best_shot_sealed, stream_id, track_id FROM alerts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?;
        let Some((jpeg, key, sealed, stream_id, track_id)) = row else { return Ok(None) };
        let Some(key) = key else { return Ok(jpeg) };
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        if !sealed {
            return Ok(Some(bytes));
        }
        Ok(open_stored_best_shot(&self.keys, &bytes, &stream_id, &track_id).await?)
    }

    /// The JPEG of alert `id`'s scene, if one was kept (and is still stored).
    pub async fn scene(&self, pool: &PgPool, id: Uuid) -> Result<Option<Vec<u8>>, ImageError> {
        let row: Option<(Option<Vec<u8>>, Option<String>)> =
            sqlx::query_as("SELECT jpeg, object_key FROM alert_scenes WHERE alert_id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
        match row {
            None => Ok(None),
            Some((_, Some(key))) => Ok(self.objects.get(&key).await?),
            Some((jpeg, None)) => Ok(jpeg),
        }
    }
}
