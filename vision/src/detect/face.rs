//! RetinaFace-MobileNet0.25: faces with five landmarks.
//!
//! Input `input` [1,3,H,W] f32, BGR minus the per-channel mean (104, 117, 123); outputs `loc`
//! [1,N,4], `conf` [1,N,2] (softmaxed, column 1 = face), `landmarks` [1,N,10], one row per prior box:
//! min sizes {16,32} at stride 8, {64,128} at stride 16, {256,512} at stride 32, decoded with variances
//! 0.1 (centres) and 0.2 (sizes).

use ndarray::Array4;
use ort::session::Session;
use ort::value::Tensor;
use std::path::Path;

use super::{DetectError, non_maximum_suppression, output_values, session};
use crate::frame::{BoxF, RgbFrame};

const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
const PRIORS: [(u32, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];

/// Face detector settings.
#[derive(Debug, Clone)]
pub struct FaceDetectorSettings {
    /// The frame is scaled so its longer side is this many pixels before detection.
    pub input_long_side: u32,
    /// Minimum face score in [0, 1]. 0.8 by default: the cat in chelsea.png scores 0.68, the real
    /// faces of the test photos 0.9 and above.
    pub min_score: f32,
    /// Overlap above which the weaker of two faces is dropped.
    pub nms_iou: f32,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
}

impl Default for FaceDetectorSettings {
    fn default() -> Self {
        Self { input_long_side: 640, min_score: 0.8, nms_iou: 0.4, threads: 2 }
    }
}

/// One detected face, in pixels of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceDetection {
    /// Face box.
    pub bbox: BoxF,
    /// Score in [0, 1].
    pub score: f32,
    /// Left eye, right eye, nose, left mouth corner, right mouth corner (as seen in the image).
    pub landmarks: [(f32, f32); 5],
}

/// Detects faces with RetinaFace.
pub struct FaceDetector {
    session: Session,
    settings: FaceDetectorSettings,
}

impl FaceDetector {
    /// Loads the model from `path` into `environment`.
    pub fn new(
        environment: &ort::environment::Environment,
        path: &Path,
        settings: FaceDetectorSettings,
    ) -> Result<Self, DetectError> {
        Ok(Self { session: session(environment, path, settings.threads)?, settings })
    }

    /// The model's input for `frame`: scaled so its longer side is `input_long_side`, BGR minus the
    /// channel means, NCHW. Returns the tensor and the scale applied.
    pub fn input_tensor(&self, frame: &RgbFrame) -> Result<(Array4<f32>, f32), DetectError> {
        let scale = self.settings.input_long_side as f32 / frame.width.max(frame.height) as f32;
        let width = ((frame.width as f32 * scale).round() as usize).max(32);
        let height = ((frame.height as f32 * scale).round() as usize).max(32);
        let resized = frame.resized(width, height, scale);
        // Model channels are BGR planes; frame channels are packed RGB. Every value is written once.
        let mut values = Vec::with_capacity(3 * width * height);
        for (channel, mean) in [(2, MEAN_BGR[0]), (1, MEAN_BGR[1]), (0, MEAN_BGR[2])] {
            values.extend(resized.data.chunks_exact(3).map(|pixel| f32::from(pixel[channel]) - mean));
        }
        let input = Array4::from_shape_vec((1, 3, height, width), values)
            .map_err(|e| DetectError::Inference { model: "retinaface", message: format!("input tensor: {e}") })?;
        Ok((input, scale))
    }

    /// Faces in `frame`, best first.
    pub fn detect(&mut self, frame: &RgbFrame) -> Result<Vec<FaceDetection>, DetectError> {
        let error = |message: String| DetectError::Inference { model: "retinaface", message };
        let (input, scale) = self.input_tensor(frame)?;
        let (height, width) = (input.shape()[2], input.shape()[3]);
        let tensor = Tensor::from_array(input).map_err(|e| error(e.to_string()))?;
        let outputs = self.session.run(ort::inputs!["input" => tensor]).map_err(|e| error(e.to_string()))?;
        let loc = output_values(&outputs, "retinaface", "loc")?;
        let conf = output_values(&outputs, "retinaface", "conf")?;
        let marks = output_values(&outputs, "retinaface", "landmarks")?;

        let priors = prior_boxes(width, height);
        if loc.len() != priors.len() * 4 || conf.len() != priors.len() * 2 || marks.len() != priors.len() * 10 {
            return Err(error(format!(
                "{} priors but outputs of {}/{}/{}",
                priors.len(),
                loc.len(),
                conf.len(),
                marks.len()
            )));
        }
        let (w, h) = (width as f32, height as f32);
        let mut boxes = Vec::new();
        let mut scores = Vec::new();
        let mut landmarks = Vec::new();
        for (i, prior) in priors.iter().enumerate() {
            let score = conf[i * 2 + 1];
            if score < self.settings.min_score {
                continue;
            }
            let [pcx, pcy, pw, ph] = *prior;
            let l = &loc[i * 4..i * 4 + 4];
            let cx = pcx + l[0] * 0.1 * pw;
            let cy = pcy + l[1] * 0.1 * ph;
            let bw = pw * (l[2] * 0.2).exp();
            let bh = ph * (l[3] * 0.2).exp();
            // Normalised to the model input, then back to frame pixels.
            boxes.push(BoxF {
                x: (cx - bw / 2.0) * w / scale,
                y: (cy - bh / 2.0) * h / scale,
                width: bw * w / scale,
                height: bh * h / scale,
            });
            scores.push(score);
            let m = &marks[i * 10..i * 10 + 10];
            let mut points = [(0.0, 0.0); 5];
            for (k, point) in points.iter_mut().enumerate() {
                *point = ((pcx + m[2 * k] * 0.1 * pw) * w / scale, (pcy + m[2 * k + 1] * 0.1 * ph) * h / scale);
            }
            landmarks.push(points);
        }
        Ok(non_maximum_suppression(&boxes, &scores, self.settings.nms_iou)
            .into_iter()
            .map(|i| FaceDetection { bbox: boxes[i], score: scores[i], landmarks: landmarks[i] })
            .collect())
    }
}

/// Prior boxes (cx, cy, w, h), normalised to the input size, in the model's output order.
fn prior_boxes(width: usize, height: usize) -> Vec<[f32; 4]> {
    let mut priors = Vec::new();
    for (stride, min_sizes) in PRIORS {
        let stride = stride as usize;
        let (rows, cols) = (height.div_ceil(stride), width.div_ceil(stride));
        for row in 0..rows {
            for col in 0..cols {
                for min_size in min_sizes {
                    priors.push([
                        (col as f32 + 0.5) * stride as f32 / width as f32,
                        (row as f32 + 0.5) * stride as f32 / height as f32,
                        min_size / width as f32,
                        min_size / height as f32,
                    ]);
                }
            }
        }
    }
    priors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_matches_the_feature_maps() {
        // 640x480: (80*60 + 40*30 + 20*15) cells, two priors each.
        assert_eq!(prior_boxes(640, 480).len(), 2 * (80 * 60 + 40 * 30 + 20 * 15));
        let first = prior_boxes(640, 480)[0];
        assert_eq!(first, [4.0 / 640.0, 4.0 / 480.0, 16.0 / 640.0, 16.0 / 480.0]);
    }
}
