//! Face and person detection with ONNX Runtime.
//!
//! The runtime library is loaded once per process from a path (`libonnxruntime.so` from the
//! `onnxruntime` wheel, prepared by `infra/models`); each detector owns one session with its own
//! thread count.

mod face;
mod person;

pub use face::{FaceDetection, FaceDetector, FaceDetectorSettings};
pub use person::{PersonDetection, PersonDetector, PersonDetectorSettings};

use crate::frame::BoxF;
use ort::environment::Environment;
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Errors loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The ONNX Runtime library could not be loaded.
    #[error("loading ONNX Runtime from {path}: {message}")]
    Runtime {
        /// Library path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A model could not be loaded.
    #[error("loading model {path}: {message}")]
    Model {
        /// Model path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Inference failed or returned an unexpected shape.
    #[error("running {model}: {message}")]
    Inference {
        /// Which model.
        model: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// The files `infra/models` prepares, under its output directory.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The directory (`infra/models` prints it).
    pub dir: PathBuf,
}

impl ModelFiles {
    /// The ONNX Runtime library.
    pub fn runtime_library(&self) -> PathBuf {
        self.dir.join("lib/libonnxruntime.so.1.32.0")
    }

    /// RetinaFace-MobileNet0.25.
    pub fn face_model(&self) -> PathBuf {
        self.dir.join("retinaface_mnet025.onnx")
    }

    /// SSDLite-MobileNetV2 pedestrian detector.
    pub fn person_model(&self) -> PathBuf {
        self.dir.join("pedestrian_ssdlite.onnx")
    }

    /// MobileFaceNet face descriptor.
    pub fn descriptor_model(&self) -> PathBuf {
        self.dir.join("mobilefacenet.onnx")
    }
}

static ENVIRONMENT: OnceLock<Mutex<Option<Arc<Environment>>>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library from `library` on first use.
pub fn runtime(library: &Path) -> Result<Arc<Environment>, DetectError> {
    let cell = ENVIRONMENT.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().map_err(|_| DetectError::Runtime {
        path: library.display().to_string(),
        message: "environment lock poisoned".into(),
    })?;
    if let Some(environment) = guard.as_ref() {
        return Ok(environment.clone());
    }
    let runtime_error = |message: String| DetectError::Runtime { path: library.display().to_string(), message };
    let environment = ort::init_from(library)
        .map_err(|e| runtime_error(e.to_string()))?
        .with_name("sightline")
        .build()
        .map_err(|e| runtime_error(e.to_string()))?;
    let environment = Arc::new(environment);
    *guard = Some(environment.clone());
    Ok(environment)
}

/// A session for the model at `path` with `threads` intra-op threads and one inter-op thread, as the
/// detectors and the descriptor build theirs (the benchmarks' raw peers use it too).
///
/// The intra-op threads sleep instead of spinning between operators: every stream runs two models in
/// turn (and a machine runs many streams), so a spinning pool only burns the cores the other model,
/// the decoder or the other streams need. Measured by `make bench-ingest`: the two models alone went
/// from 23 to 48 frames/s on 2 cores.
pub fn session(environment: &Environment, path: &Path, threads: usize) -> Result<Session, DetectError> {
    let model_error = |message: String| DetectError::Model { path: path.display().to_string(), message };
    Session::builder(environment)
        .map_err(|e| model_error(e.to_string()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| model_error(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| model_error(e.to_string()))?
        .with_intra_op_spinning(false)
        .map_err(|e| model_error(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| model_error(e.to_string()))
}

/// The f32 values of output `name` of `model`; an inference error (never a panic) when the model has
/// no such output or it is not f32, as happens when a file holds a different model.
pub(crate) fn output_values<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    model: &'static str,
    name: &str,
) -> Result<&'a [f32], DetectError> {
    let value = outputs
        .get(name)
        .ok_or_else(|| DetectError::Inference { model, message: format!("the model has no output {name:?}") })?;
    let (_, values) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| DetectError::Inference { model, message: format!("output {name:?}: {e}") })?;
    Ok(values)
}

/// Greedy non-maximum suppression: keeps the highest-scoring of any boxes overlapping more than
/// `iou_threshold`. Returns the kept indices, best first.
pub fn non_maximum_suppression(boxes: &[BoxF], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept: Vec<usize> = Vec::new();
    for candidate in order {
        if kept.iter().all(|&k| boxes[k].iou(&boxes[candidate]) <= iou_threshold) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let a = BoxF { x: 0.0, y: 0.0, width: 10.0, height: 10.0 };
        let b = BoxF { x: 1.0, ..a };
        let c = BoxF { x: 50.0, ..a };
        assert_eq!(non_maximum_suppression(&[a, b, c], &[0.8, 0.9, 0.5], 0.4), vec![1, 2]);
    }
}
