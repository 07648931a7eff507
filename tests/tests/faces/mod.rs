//! Faces of the models' photos as a test needs them: the photo, its one face, and a detection event
//! of it cropped and encoded the way ingest does.

use sightline_schemas::v1::{BoundingBox, DetectionEvent, ObjectKind, Point};
use sightline_vision::detect::{FaceDetection, FaceDetector, ModelFiles};
use sightline_vision::frame::RgbFrame;

/// The models prepared by `infra/models` (`SIGHTLINE_MODELS_DIR`).
pub fn files() -> ModelFiles {
    let dir = std::env::var("SIGHTLINE_MODELS_DIR").expect("SIGHTLINE_MODELS_DIR (run `make models`)");
    ModelFiles { dir: dir.into() }
}

/// The photo `name` of the models' images.
pub fn photo(name: &str) -> RgbFrame {
    RgbFrame::open(&files().dir.join("images").join(name)).expect("photo")
}

/// The one face of `photo`.
pub fn face_of(detector: &mut FaceDetector, photo: &RgbFrame) -> FaceDetection {
    let faces = detector.detect(photo).expect("detects");
    assert_eq!(faces.len(), 1, "{faces:?}");
    faces.into_iter().next().expect("a face")
}

/// A detection event for the face in `photo`, cropped with a 25% margin like ingest's best shots.
pub fn detection(detector: &mut FaceDetector, photo: &RgbFrame, stream: &str) -> DetectionEvent {
    let face = face_of(detector, photo);
    let b = face.bbox;
    let (crop, (left, top)) = photo.crop_around(&b, 0.25);
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&crop.data, crop.width as u16, crop.height as u16, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    DetectionEvent {
        schema_version: 1,
        event_id: uuid::Uuid::new_v4().to_string(),
        stream_id: stream.into(),
        site: "hq".into(),
        capture_time_ms: 1_795_000_000_000,
        processing_time_ms: 1_795_000_000_100,
        track_id: uuid::Uuid::new_v4().to_string(),
        kind: ObjectKind::Face as i32,
        bbox: Some(BoundingBox { x: b.x, y: b.y, width: b.width, height: b.height }),
        landmarks: face.landmarks.iter().map(|&(x, y)| Point { x, y }).collect(),
        detection_score: face.score,
        quality: 0.9,
        best_shot_jpeg: Some(jpeg),
        best_shot_origin: Some(Point { x: left as f32, y: top as f32 }),
        first_seen_ms: 1_794_999_999_000,
        last_seen_ms: 1_795_000_001_000,
        frame_count: 12,
        frame_width: photo.width,
        frame_height: photo.height,
        track_ended: true,
        parent_track_id: String::new(),
        // As a producer of minor version 1 wrote it: no report kind or sequence.
        ..Default::default()
    }
}
