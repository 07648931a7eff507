//! Face alignment: the similarity transform (rotation, uniform scale, translation) that best maps a
//! face's five landmarks onto the standard 112x112 ArcFace template, and the aligned crop it gives.

use crate::frame::RgbFrame;

/// Side of an aligned face, pixels.
pub const ALIGNED_SIZE: u32 = 112;

/// Where the five landmarks (left eye, right eye, nose, left and right mouth corners, as seen in the
/// image) lie in an aligned 112x112 face.
pub const ARCFACE_TEMPLATE: [(f32, f32); 5] =
    [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)];

/// `(x, y) -> (a·x − b·y + tx, b·x + a·y + ty)`: rotation and uniform scale `(a, b)`, then translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Scale times the cosine of the rotation.
    pub a: f32,
    /// Scale times the sine of the rotation.
    pub b: f32,
    /// Horizontal translation.
    pub tx: f32,
    /// Vertical translation.
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity mapping `from[i]` onto `to[i]`; `None` when the source points
    /// all coincide.
    pub fn estimate(from: &[(f32, f32)], to: &[(f32, f32)]) -> Option<Self> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |points: &[(f32, f32)]| {
            let (sx, sy) = points[..n].iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
            (sx / n as f32, sy / n as f32)
        };
        let ((fx, fy), (tx, ty)) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0f32, 0.0f32, 0.0f32);
        for (&(x, y), &(u, v)) in from.iter().zip(to).take(n) {
            let (x, y, u, v) = (x - fx, y - fy, u - tx, v - ty);
            dot += x * u + y * v;
            cross += x * v - y * u;
            norm += x * x + y * y;
        }
        if norm <= f32::EPSILON {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Self { a, b, tx: tx - (a * fx - b * fy), ty: ty - (b * fx + a * fy) })
    }

    /// Maps a point.
    pub fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)
    }

    /// The scale factor.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// The inverse transform; `None` for a degenerate (zero-scale) one.
    pub fn inverse(&self) -> Option<Self> {
        let det = self.a * self.a + self.b * self.b;
        if det <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / det, -self.b / det);
        Some(Self { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) })
    }
}

/// The 112x112 aligned face whose five `landmarks` (in `image` pixels) land on [`ARCFACE_TEMPLATE`];
/// `None` when the landmarks are degenerate.
pub fn align_face(image: &RgbFrame, landmarks: &[(f32, f32); 5]) -> Option<RgbFrame> {
    let to_image = Similarity::estimate(landmarks, &ARCFACE_TEMPLATE)?.inverse()?;
    let side = ALIGNED_SIZE as usize;
    let mut data = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = to_image.apply((x as f32, y as f32));
            let inside = sx >= -0.5 && sy >= -0.5 && sx <= image.width as f32 - 0.5 && sy <= image.height as f32 - 0.5;
            let pixel = if inside { image.sample_pixel(sx, sy) } else { [0.0; 3] };
            data.extend(pixel.iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    RgbFrame::new(ALIGNED_SIZE, ALIGNED_SIZE, data)
}

/// Distance between the eyes in pixels (the first two landmarks): how much face there is to
/// describe.
pub fn eye_distance(landmarks: &[(f32, f32); 5]) -> f32 {
    let ((lx, ly), (rx, ry)) = (landmarks[0], landmarks[1]);
    (rx - lx).hypot(ry - ly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_scaled_shifted_template_is_recovered() {
        let (angle, scale, shift): (f32, f32, (f32, f32)) = (0.3, 2.5, (40.0, -7.0));
        let truth = Similarity { a: scale * angle.cos(), b: scale * angle.sin(), tx: shift.0, ty: shift.1 };
        let moved: Vec<(f32, f32)> = ARCFACE_TEMPLATE.iter().map(|&p| truth.apply(p)).collect();
        let found = Similarity::estimate(&ARCFACE_TEMPLATE, &moved).expect("estimable");
        assert!((found.a - truth.a).abs() < 1e-4 && (found.b - truth.b).abs() < 1e-4, "{found:?}");
        assert!((found.scale() - scale).abs() < 1e-4);
        let back = found.inverse().expect("invertible");
        for (&original, &m) in ARCFACE_TEMPLATE.iter().zip(&moved) {
            let (x, y) = back.apply(m);
            assert!((x - original.0).abs() < 1e-3 && (y - original.1).abs() < 1e-3);
        }
        assert!(Similarity::estimate(&[(1.0, 1.0); 5], &ARCFACE_TEMPLATE).is_none());
    }

    #[test]
    fn aligning_puts_the_landmarks_on_the_template() {
        // A 200x200 image, dark except for a bright 3x3 dot at each landmark of a face 1.5 times the
        // template.
        let landmarks: [(f32, f32); 5] = ARCFACE_TEMPLATE.map(|(x, y)| (x * 1.5 + 20.0, y * 1.5 + 10.0));
        let mut data = vec![0u8; 200 * 200 * 3];
        for &(x, y) in &landmarks {
            for dy in 0..3 {
                for dx in 0..3 {
                    let at = ((y.round() as usize + dy - 1) * 200 + x.round() as usize + dx - 1) * 3;
                    data[at..at + 3].copy_from_slice(&[255, 255, 255]);
                }
            }
        }
        let image = RgbFrame::new(200, 200, data).expect("frame");
        let aligned = align_face(&image, &landmarks).expect("aligned");
        assert_eq!((aligned.width, aligned.height), (112, 112));
        for &(x, y) in &ARCFACE_TEMPLATE {
            let at = (y.round() as usize * 112 + x.round() as usize) * 3;
            assert!(aligned.data[at] > 128, "a landmark's dot near ({x}, {y})");
        }
        assert!(aligned.data[(20 * 112 + 20) * 3] == 0, "and dark elsewhere");
        assert!((eye_distance(&landmarks) - 1.5 * 35.24).abs() < 0.1);
    }
}
