//! The descriptor of the one face in a photo someone uploads: an enrolment photo (enrich's
//! watchlists) or the photo a face search starts from (query). Detection, the size check, alignment
//! and description are the same in both, so a person enrolled from one photo is found by a search
//! from another.

use crate::align::{align_face, eye_distance};
use crate::descriptor::FaceDescriptor;
use crate::detect::FaceDetector;
use crate::frame::{BoxF, RgbFrame};
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
    /// One photo at a time per core is decoded and examined off the runtime; the others wait
    /// holding only their encoded bytes, so the decoded images in memory are bounded.
    at_once: Arc<tokio::sync::Semaphore>,
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
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let at_once = Arc::new(tokio::sync::Semaphore::new(cores));
        Self { detector: Mutex::new(detector), describer, min_eye_distance_px, max_image_pixels, at_once }
    }

    /// The descriptor (L2-normalised) of the one face in `photo` (JPEG or PNG bytes). Blocks for tens
    /// of milliseconds: call it off the async runtime.
    pub fn describe(&self, photo: &[u8]) -> Result<Vec<f32>, PhotoError> {
        self.describe_face(photo).map(|face| face.descriptor)
    }

    /// The one face in `photo`: its descriptor and a picture of it ([`DescribedFace`]).
    pub fn describe_face(&self, photo: &[u8]) -> Result<DescribedFace, PhotoError> {
        self.describe_chosen_face(photo, None)
    }

    /// Face `choice` of `photo` (its index among [`PhotoDescriber::examine`]'s faces), or its one
    /// face without a choice: its descriptor and a picture of it.
    pub fn describe_chosen_face(&self, photo: &[u8], choice: Option<usize>) -> Result<DescribedFace, PhotoError> {
        let examined = self.examine(photo)?;
        let face = examined.chosen_face(choice).map_err(PhotoError::Unusable)?;
        let aligned = align_face(&examined.image, &face.landmarks)
            .ok_or_else(|| PhotoError::Unusable("the face cannot be aligned".into()))?;
        let mut describer =
            self.describer.lock().map_err(|_| PhotoError::Internal("descriptor lock poisoned".into()))?;
        let mut descriptors = describer.describe(&[&aligned]).map_err(|e| PhotoError::Internal(e.to_string()))?;
        let descriptor = descriptors.pop().ok_or_else(|| PhotoError::Internal("no descriptor".into()))?;
        let (crop, _) = examined.image.crop_around(&face.bbox, FACE_PICTURE_MARGIN);
        let picture = crop.fitted(FACE_PICTURE_SIDE).to_jpeg(FACE_PICTURE_QUALITY);
        Ok(DescribedFace { descriptor, picture })
    }

    /// Every face detected in `photo`, each with the reason it could not be described, if any: what
    /// an enrolment form shows back before anything is saved.
    pub fn examine(&self, photo: &[u8]) -> Result<ExaminedPhoto, PhotoError> {
        let image = RgbFrame::decode_bounded(photo, self.max_image_pixels).map_err(PhotoError::Unusable)?;
        let faces =
            self.detector.lock().map_err(|_| PhotoError::Internal("detector lock poisoned".into()))?.detect(&image);
        let faces = faces.map_err(|e| PhotoError::Internal(e.to_string()))?;
        let faces = faces
            .into_iter()
            .map(|face| {
                let problem = (eye_distance(&face.landmarks) < self.min_eye_distance_px)
                    .then(|| "the face is too small to describe; use a larger photo".to_owned());
                FoundFace { bbox: face.bbox, score: face.score, landmarks: face.landmarks, problem }
            })
            .collect();
        Ok(ExaminedPhoto { image, faces })
    }

    /// `work` on `photo` on a blocking thread, for async services: at most one photo per core at
    /// once, the others wait their turn.
    pub async fn off_runtime<T: Send + 'static>(
        self: &Arc<Self>,
        photo: impl AsRef<[u8]> + Send + 'static,
        work: impl FnOnce(&Self, &[u8]) -> Result<T, PhotoError> + Send + 'static,
    ) -> Result<T, PhotoError> {
        let turn = Arc::clone(&self.at_once)
            .acquire_owned()
            .await
            .map_err(|_| PhotoError::Internal("the photo queue is closed".into()))?;
        let describer = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&describer, photo.as_ref());
            drop(turn);
            result
        })
        .await
        .map_err(|e| PhotoError::Internal(format!("the describing thread failed: {e}")))?
    }

    /// [`PhotoDescriber::describe`] on a blocking thread, for async services.
    pub async fn describe_off_runtime(
        self: &Arc<Self>,
        photo: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Vec<f32>, PhotoError> {
        self.off_runtime(photo, Self::describe).await
    }
}

/// How much of the photo around a face its picture keeps, as a fraction of the face's size per side.
const FACE_PICTURE_MARGIN: f32 = 0.3;
/// The longest side of a face's picture, pixels.
const FACE_PICTURE_SIDE: u32 = 256;
const FACE_PICTURE_QUALITY: u8 = 85;

/// A described face.
#[derive(Debug, Clone)]
pub struct DescribedFace {
    /// L2-normalised descriptor.
    pub descriptor: Vec<f32>,
    /// The face with some of its surroundings, at most 256 pixels a side, as JPEG (to show whom a
    /// watchlist holds); `None` if it could not be encoded.
    pub picture: Option<Vec<u8>>,
}

/// A photo and the faces in it.
#[derive(Debug, Clone)]
pub struct ExaminedPhoto {
    /// The decoded photo.
    pub image: RgbFrame,
    /// Faces detected, best first.
    pub faces: Vec<FoundFace>,
}

impl ExaminedPhoto {
    /// The one face a descriptor is taken from, or why there is none: no face, several (a photo of one
    /// person is needed), or a face too small.
    pub fn usable_face(&self) -> Result<&FoundFace, String> {
        match self.faces.as_slice() {
            [] => Err("no face found in the image".into()),
            [face] => face.problem.clone().map_or(Ok(face), Err),
            several => Err(format!(
                "{} faces found in the image; choose one (face) or use a photo of one person",
                several.len()
            )),
        }
    }

    /// Face `choice` (its index in [`ExaminedPhoto::faces`]), or [`ExaminedPhoto::usable_face`]
    /// without a choice; why it cannot be described otherwise.
    pub fn chosen_face(&self, choice: Option<usize>) -> Result<&FoundFace, String> {
        let Some(index) = choice else { return self.usable_face() };
        let face = self.faces.get(index).ok_or_else(|| match self.faces.len() {
            0 => "face: no face found in the image".to_owned(),
            found => format!("face {index}: the image has {found} face(s), numbered from 0"),
        })?;
        face.problem.clone().map_or(Ok(face), |problem| Err(format!("face {index}: {problem}")))
    }
}

/// The faces in a photo as the services' APIs show them (enrolment's examination, the face search's
/// picker): boxes in photo pixels, each with why it cannot be described, and why the photo as a
/// whole would be refused without a choice of face.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ExaminedPhoto)]
pub struct ExaminedPhotoView {
    /// The photo's width, pixels.
    pub width: u32,
    /// Its height, pixels.
    pub height: u32,
    /// The faces detected, most certain first; `face=N` chooses one by its index here.
    pub faces: Vec<ExaminedFace>,
    /// Why the photo is refused without a choice of face (none, several, too small); null: its
    /// one face is taken.
    pub refusal: Option<String>,
}

/// A face detected in a photo, in photo pixels.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ExaminedFace {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Detector score, 0 to 1.
    pub score: f32,
    /// Why this face cannot be described (too small); null: it can.
    pub problem: Option<String>,
}

impl From<&ExaminedPhoto> for ExaminedPhotoView {
    fn from(examined: &ExaminedPhoto) -> Self {
        let faces = examined
            .faces
            .iter()
            .map(|face| ExaminedFace {
                x: face.bbox.x,
                y: face.bbox.y,
                width: face.bbox.width,
                height: face.bbox.height,
                score: face.score,
                problem: face.problem.clone(),
            })
            .collect();
        Self {
            width: examined.image.width,
            height: examined.image.height,
            faces,
            refusal: examined.usable_face().err(),
        }
    }
}

/// A face detected in a photo.
#[derive(Debug, Clone)]
pub struct FoundFace {
    /// Where, in photo pixels.
    pub bbox: BoxF,
    /// Detector score.
    pub score: f32,
    /// Five landmarks.
    pub landmarks: [(f32, f32); 5],
    /// Why it cannot be described (too small), if so.
    pub problem: Option<String>,
}
