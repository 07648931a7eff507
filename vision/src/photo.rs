//! The descriptor of the one face in a photo someone uploads: an enrolment photo (enrich's
//! watchlists) or the photo a face search starts from (query). Detection, the size check, alignment
//! and description are the same in both, so a person enrolled from one photo is found by a search
//! from another.

use crate::align::{align_face, eye_distance};
use crate::descriptor::FaceDescriptor;
use crate::detect::FaceDetector;
use crate::frame::RgbFrame;
use std::sync::{Arc, Mutex};

/// Why a photo gave no descriptor.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The photo cannot be used (not an image, too large, no face, several faces, a face too small):
    /// the uploader's to fix (a 422).
    #[error("{0}")]
    Unusable(String),
    /// The models failed (a 500).
    #[error("describing the photo: {0}")]
    Internal(String),
}

/// Finds, checks, aligns and describes the one face of a photo.
pub struct PhotoDescriber {
    detector: Mutex<FaceDetector>,
    describer: Arc<Mutex<FaceDescriptor>>,
    min_eye_distance_px: f32,
    max_image_pixels: u64,
}

impl PhotoDescriber {
    /// Describes with `detector` and `describer` (which the caller may share, e.g. with a pipeline);
    /// faces with eyes closer than `min_eye_distance_px` and images over `max_image_pixels` (checked
    /// before decoding) are refused.
    pub fn new(
        detector: FaceDetector,
        describer: Arc<Mutex<FaceDescriptor>>,
        min_eye_distance_px: f32,
        max_image_pixels: u64,
    ) -> Self {
        Self { detector: Mutex::new(detector), describer, min_eye_distance_px, max_image_pixels }
    }

    /// The descriptor (L2-normalised) of the one face in `photo` (JPEG or PNG bytes). Blocks for tens
    /// of milliseconds: call it off the async runtime.
    pub fn describe(&self, photo: &[u8]) -> Result<Vec<f32>, PhotoError> {
        let image = RgbFrame::decode_bounded(photo, self.max_image_pixels).map_err(PhotoError::Unusable)?;
        let faces =
            self.detector.lock().map_err(|_| PhotoError::Internal("detector lock poisoned".into()))?.detect(&image);
        let faces = faces.map_err(|e| PhotoError::Internal(e.to_string()))?;
        let face = match faces.as_slice() {
            [] => return Err(PhotoError::Unusable("no face found in the image".into())),
            [face] => face,
            several => {
                return Err(PhotoError::Unusable(format!(
                    "{} faces found in the image; a photo of one person is needed",
                    several.len()
                )));
            }
        };
        if eye_distance(&face.landmarks) < self.min_eye_distance_px {
            return Err(PhotoError::Unusable("the face is too small to describe; use a larger photo".into()));
        }
        let aligned = align_face(&image, &face.landmarks)
            .ok_or_else(|| PhotoError::Unusable("the face cannot be aligned".into()))?;
        let mut describer =
            self.describer.lock().map_err(|_| PhotoError::Internal("descriptor lock poisoned".into()))?;
        let mut descriptors = describer.describe(&[&aligned]).map_err(|e| PhotoError::Internal(e.to_string()))?;
        descriptors.pop().ok_or_else(|| PhotoError::Internal("no descriptor".into()))
    }

    /// [`PhotoDescriber::describe`] on a blocking thread, for async services.
    pub async fn describe_off_runtime(
        self: &Arc<Self>,
        photo: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Vec<f32>, PhotoError> {
        let describer = self.clone();
        tokio::task::spawn_blocking(move || describer.describe(photo.as_ref()))
            .await
            .map_err(|e| PhotoError::Internal(format!("the describing thread failed: {e}")))?
    }
}
