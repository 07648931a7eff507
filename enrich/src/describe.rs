//! From a detection to an aligned face ready for the descriptor model, or the reason there is none.
//!
//! A face gets a descriptor only when its best shot is there and decodes, it has five landmarks that
//! can be placed in the crop, the eyes are far enough apart to carry identity, and the aligned face
//! is sharp enough. Everything else passes through with a stated reason (see [`SkipReason`]).

use sightline_schemas::v1::{DetectionEvent, ObjectKind};
use sightline_vision::align::{align_face, eye_distance};
use sightline_vision::frame::RgbFrame;

/// Why a detection has no descriptor; the names go into `EnrichedEvent.descriptor_skip_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A body, not a face.
    Body,
    /// No best-shot image in the event.
    NoBestShot,
    /// The best shot is not a decodable image.
    UndecodableBestShot,
    /// Fewer than five landmarks.
    NoLandmarks,
    /// The producer did not say where the crop lies in the frame (older producers).
    NoBestShotOrigin,
    /// The eyes are closer than `min_eye_distance_px`.
    FaceTooSmall,
    /// The aligned face is blurred below `min_sharpness`.
    FaceBlurred,
    /// The landmarks do not define an alignment (all in one point).
    DegenerateLandmarks,
}

impl SkipReason {
    /// The reason's name in events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Body => "body",
            SkipReason::NoBestShot => "no_best_shot",
            SkipReason::UndecodableBestShot => "undecodable_best_shot",
            SkipReason::NoLandmarks => "no_landmarks",
            SkipReason::NoBestShotOrigin => "no_best_shot_origin",
            SkipReason::FaceTooSmall => "face_too_small",
            SkipReason::FaceBlurred => "face_blurred",
            SkipReason::DegenerateLandmarks => "degenerate_landmarks",
        }
    }
}

/// When a face is worth describing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceGate {
    /// Minimum distance between the eyes in the best shot, pixels.
    pub min_eye_distance_px: f32,
    /// Minimum sharpness of the aligned face (variance of its grey Laplacian).
    pub min_sharpness: f32,
}

impl Default for FaceGate {
    /// 8 px between the eyes: a 640-px-wide analysed frame gives ~20 px for a face at a few metres.
    /// Sharpness 20: a clear aligned face measures in the hundreds, a box-blurred one below 10.
    fn default() -> Self {
        Self { min_eye_distance_px: 8.0, min_sharpness: 20.0 }
    }
}

/// Largest best shot decoded, pixels (ingest's crops are a few hundred pixels wide); a larger one is
/// treated as undecodable rather than allocated.
pub const MAX_BEST_SHOT_PIXELS: u64 = 4096 * 4096;

/// The aligned 112x112 face of `event`, or why there is none.
pub fn aligned_face(event: &DetectionEvent, gate: &FaceGate) -> Result<RgbFrame, SkipReason> {
    if event.kind != ObjectKind::Face as i32 {
        return Err(SkipReason::Body);
    }
    let jpeg = event.best_shot_jpeg.as_deref().filter(|j| !j.is_empty()).ok_or(SkipReason::NoBestShot)?;
    if event.landmarks.len() < 5 {
        return Err(SkipReason::NoLandmarks);
    }
    let origin = event.best_shot_origin.ok_or(SkipReason::NoBestShotOrigin)?;
    let mut landmarks = [(0.0f32, 0.0f32); 5];
    for (slot, point) in landmarks.iter_mut().zip(&event.landmarks) {
        *slot = (point.x - origin.x, point.y - origin.y);
    }
    if eye_distance(&landmarks) < gate.min_eye_distance_px {
        return Err(SkipReason::FaceTooSmall);
    }
    let crop = RgbFrame::decode_bounded(jpeg, MAX_BEST_SHOT_PIXELS).map_err(|_| SkipReason::UndecodableBestShot)?;
    let aligned = align_face(&crop, &landmarks).ok_or(SkipReason::DegenerateLandmarks)?;
    if sharpness(&aligned) < gate.min_sharpness {
        return Err(SkipReason::FaceBlurred);
    }
    Ok(aligned)
}

/// Variance of the 4-neighbour Laplacian of the image's grey levels: high for crisp edges, near zero
/// for a blurred or flat image.
pub fn sharpness(image: &RgbFrame) -> f32 {
    let (w, h) = (image.width as usize, image.height as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let grey: Vec<f32> = image
        .data
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = y * w + x;
            let laplacian = grey[at - 1] + grey[at + 1] + grey[at - w] + grey[at + w] - 4.0 * grey[at];
            let value = f64::from(laplacian);
            sum += value;
            sum_sq += value * value;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_schemas::v1::Point;

    fn checkerboard(side: u32, cell: u32) -> RgbFrame {
        let data = (0..side * side)
            .flat_map(|i| {
                let (x, y) = (i % side, i / side);
                let v = if (x / cell + y / cell).is_multiple_of(2) { 230 } else { 20 };
                [v, v, v]
            })
            .collect();
        RgbFrame::new(side, side, data).expect("frame")
    }

    fn face_event(origin: Option<Point>, eye_gap: f32) -> DetectionEvent {
        let jpeg = sightline_vision_jpeg(&checkerboard(96, 4));
        let (ox, oy) = origin.map_or((0.0, 0.0), |p| (p.x, p.y));
        let landmarks = [(30.0, 40.0), (30.0 + eye_gap, 40.0), (48.0, 55.0), (34.0, 70.0), (62.0, 70.0)];
        DetectionEvent {
            kind: ObjectKind::Face as i32,
            best_shot_jpeg: Some(jpeg),
            best_shot_origin: origin,
            landmarks: landmarks.iter().map(|&(x, y)| Point { x: x + ox, y: y + oy }).collect(),
            ..Default::default()
        }
    }

    /// A lossless-enough JPEG of `frame` (quality 95) for the tests.
    fn sightline_vision_jpeg(frame: &RgbFrame) -> Vec<u8> {
        let mut out = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        image::ImageEncoder::write_image(
            encoder,
            &frame.data,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encodes");
        out
    }

    #[test]
    fn a_clear_face_is_aligned_and_everything_else_says_why_not() {
        let gate = FaceGate::default();
        let good = face_event(Some(Point { x: 200.0, y: 100.0 }), 28.0);
        let aligned = aligned_face(&good, &gate).expect("aligned");
        assert_eq!((aligned.width, aligned.height), (112, 112));

        let body = DetectionEvent { kind: ObjectKind::Body as i32, ..good.clone() };
        assert_eq!(aligned_face(&body, &gate), Err(SkipReason::Body));
        let no_shot = DetectionEvent { best_shot_jpeg: None, ..good.clone() };
        assert_eq!(aligned_face(&no_shot, &gate), Err(SkipReason::NoBestShot));
        let garbage = DetectionEvent { best_shot_jpeg: Some(vec![1, 2, 3]), ..good.clone() };
        assert_eq!(aligned_face(&garbage, &gate), Err(SkipReason::UndecodableBestShot));
        let no_marks = DetectionEvent { landmarks: vec![], ..good.clone() };
        assert_eq!(aligned_face(&no_marks, &gate), Err(SkipReason::NoLandmarks));
        assert_eq!(aligned_face(&face_event(None, 28.0), &gate), Err(SkipReason::NoBestShotOrigin));
        assert_eq!(aligned_face(&face_event(Some(Point::default()), 5.0), &gate), Err(SkipReason::FaceTooSmall));
        let strict = FaceGate { min_sharpness: f32::MAX, ..gate };
        assert_eq!(aligned_face(&good, &strict), Err(SkipReason::FaceBlurred));
    }

    #[test]
    fn sharp_edges_score_high_and_flat_images_zero() {
        assert!(sharpness(&checkerboard(64, 4)) > 1_000.0);
        assert_eq!(sharpness(&RgbFrame::new(64, 64, vec![128; 64 * 64 * 3]).expect("frame")), 0.0);
    }
}
