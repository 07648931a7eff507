//! Helpers shared by ingest's tests: the prepared models and images (`infra/models`).

use sightline_ingest::detect::{self, FaceDetector, FaceDetectorSettings, PersonDetector, PersonDetectorSettings};
use sightline_ingest::frame::RgbFrame;
use std::path::PathBuf;

/// The models directory from `SIGHTLINE_MODELS_DIR` (set by `make test`); panics when absent.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var("SIGHTLINE_MODELS_DIR")
        .map(PathBuf::from)
        .expect("SIGHTLINE_MODELS_DIR is not set: run `make models` (make test does) and export its output");
    assert!(dir.join("retinaface_mnet025.onnx").exists(), "no models in {}", dir.display());
    dir
}

/// A test image from the models directory as an RGB frame.
pub fn load(name: &str) -> RgbFrame {
    let path = models_dir().join("images").join(name);
    let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    RgbFrame::new(image.width(), image.height(), image.into_raw()).expect("rgb frame")
}

/// The face detector with default settings.
pub fn face_detector() -> FaceDetector {
    let dir = models_dir();
    let environment = detect::runtime(&dir.join("lib/libonnxruntime.so.1.32.0")).expect("onnx runtime loads");
    FaceDetector::new(&environment, &dir.join("retinaface_mnet025.onnx"), FaceDetectorSettings::default())
        .expect("face model loads")
}

/// The person detector with default settings.
#[allow(dead_code)] // Not every test binary uses it.
pub fn person_detector() -> PersonDetector {
    let dir = models_dir();
    let environment = detect::runtime(&dir.join("lib/libonnxruntime.so.1.32.0")).expect("onnx runtime loads");
    PersonDetector::new(&environment, &dir.join("pedestrian_ssdlite.onnx"), PersonDetectorSettings::default())
        .expect("person model loads")
}
