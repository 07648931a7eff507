//! SSDLite-MobileNetV2 pedestrian detector (one class: person).
//!
//! Input `image_tensor:0` u8 [1,300,300,3] RGB, the frame letterboxed (scaled to fit, padded, never
//! squashed); outputs `detection_boxes:0` [1,100,4] (ymin, xmin, ymax, xmax normalised to the input),
//! `detection_scores:0` [1,100], `num_detections:0` [1]. Normalisation and NMS are inside the graph.

use ndarray::Array4;
use ort::session::Session;
use ort::value::Tensor;
use std::path::Path;

use super::{DetectError, output_values, session};
use crate::frame::{BoxF, RgbFrame};

const INPUT: usize = 300;

/// Person detector settings.
#[derive(Debug, Clone)]
pub struct PersonDetectorSettings {
    /// Minimum person score in [0, 1].
    pub min_score: f32,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
}

impl Default for PersonDetectorSettings {
    fn default() -> Self {
        Self { min_score: 0.5, threads: 2 }
    }
}

/// One detected person, in pixels of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonDetection {
    /// Body box.
    pub bbox: BoxF,
    /// Score in [0, 1].
    pub score: f32,
}

/// Detects people with SSDLite.
pub struct PersonDetector {
    session: Session,
    settings: PersonDetectorSettings,
}

impl PersonDetector {
    /// Loads the model from `path` into `environment`.
    pub fn new(
        environment: &ort::environment::Environment,
        path: &Path,
        settings: PersonDetectorSettings,
    ) -> Result<Self, DetectError> {
        Ok(Self { session: session(environment, path, settings.threads)?, settings })
    }

    /// The model's input for `frame`: letterboxed into 300x300 RGB (scaled to fit, padded with
    /// black at the right or bottom), NHWC. Returns the tensor and the scale applied.
    pub fn input_tensor(&self, frame: &RgbFrame) -> (Array4<u8>, f32) {
        let scale = INPUT as f32 / frame.width.max(frame.height) as f32;
        let width = ((frame.width as f32 * scale).round() as usize).min(INPUT);
        let height = ((frame.height as f32 * scale).round() as usize).min(INPUT);
        let resized = frame.resized(width, height, scale);
        // Letterboxed: the frame at the top left, the rest black.
        let mut input = Array4::<u8>::zeros((1, INPUT, INPUT, 3));
        if let Some(pixels) = input.as_slice_mut() {
            for (target, source) in pixels.chunks_exact_mut(INPUT * 3).zip(resized.data.chunks_exact(width * 3)) {
                target[..width * 3].copy_from_slice(source);
            }
        }
        (input, scale)
    }

    /// People in `frame`, best first.
    pub fn detect(&mut self, frame: &RgbFrame) -> Result<Vec<PersonDetection>, DetectError> {
        let error = |message: String| DetectError::Inference { model: "pedestrian-ssdlite", message };
        let (input, scale) = self.input_tensor(frame);
        let tensor = Tensor::from_array(input).map_err(|e| error(e.to_string()))?;
        let outputs = self.session.run(ort::inputs!["image_tensor:0" => tensor]).map_err(|e| error(e.to_string()))?;
        let boxes = output_values(&outputs, "pedestrian-ssdlite", "detection_boxes:0")?;
        let scores = output_values(&outputs, "pedestrian-ssdlite", "detection_scores:0")?;
        let count = output_values(&outputs, "pedestrian-ssdlite", "num_detections:0")?;
        let count = count.first().copied().unwrap_or(0.0).max(0.0) as usize;
        let to_frame = INPUT as f32 / scale;
        let mut people: Vec<PersonDetection> = (0..count.min(scores.len()).min(boxes.len() / 4))
            .filter(|&i| scores[i] >= self.settings.min_score)
            .map(|i| {
                let (ymin, xmin, ymax, xmax) = (boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]);
                let x = (xmin * to_frame).clamp(0.0, frame.width as f32);
                let y = (ymin * to_frame).clamp(0.0, frame.height as f32);
                let right = (xmax * to_frame).clamp(0.0, frame.width as f32);
                let bottom = (ymax * to_frame).clamp(0.0, frame.height as f32);
                PersonDetection { bbox: BoxF { x, y, width: right - x, height: bottom - y }, score: scores[i] }
            })
            .collect();
        people.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(people)
    }
}
