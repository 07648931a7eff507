//! Best shots sealed before they leave ingest (docs/privacy.md, section 3): each track gets an image
//! key in PostgreSQL on its first report with a best shot, and every report's image is sealed with it.
//!
//! The analysis runs on the sources' threads, not in the async runtime, so the key is created
//! through the runtime's handle, waiting at most [`KEY_TIMEOUT`]. A report whose key cannot be had
//! (PostgreSQL down) is produced without its image (its metadata still counts) and the stream's
//! delivery error says why; the track's next report tries again.

use sightline_common::keys::{KeyClass, KeyStore, Sealer};
use sightline_common::sealing::seal_detection;
use sightline_schemas::v1::DetectionEvent;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a new track's key.
pub const KEY_TIMEOUT: Duration = Duration::from_secs(2);

/// Seals best shots with their tracks' image keys, from threads outside the runtime.
pub struct ImageSealer {
    sealer: Sealer,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for ImageSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSealer").finish_non_exhaustive()
    }
}

impl ImageSealer {
    /// A sealer storing keys in `store` through `runtime` (the service's; not called from its
    /// worker threads).
    pub fn new(store: Arc<KeyStore>, runtime: tokio::runtime::Handle) -> Self {
        Self { sealer: Sealer::new(store, KeyClass::Image), runtime }
    }

    /// Seals `event`'s best shot. On an error the image is dropped from the event and the error
    /// returned (it names no biometric data).
    pub fn seal(&self, event: &mut DetectionEvent) -> Result<(), String> {
        if event.best_shot_jpeg.is_none() {
            return Ok(());
        }
        let key = self.runtime.block_on(async {
            tokio::time::timeout(KEY_TIMEOUT, self.sealer.key(&event.stream_id, &event.track_id, event.first_seen_ms))
                .await
        });
        if event.track_ended {
            self.sealer.forget(&event.stream_id, &event.track_id);
        }
        let sealed = match key {
            Ok(Ok(key)) => seal_detection(event, &key).map_err(|e| e.to_string()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no track key within {} s", KEY_TIMEOUT.as_secs())),
        };
        if let Err(error) = sealed {
            event.best_shot_jpeg = None;
            return Err(format!("best shot withheld: sealing it failed: {error}"));
        }
        Ok(())
    }
}
