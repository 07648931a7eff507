//! Frames as the detectors see them.

/// A packed 8-bit RGB image, rows top to bottom, `width * 3` bytes per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbFrame {
    /// A frame from packed RGB bytes; `None` if the length does not match the size.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (width > 0 && height > 0 && data.len() == width as usize * height as usize * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Bilinear sample of channel `c` at (x, y) in pixel coordinates (clamped to the frame).
    pub fn sample(&self, x: f32, y: f32, c: usize) -> f32 {
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        let x = x.clamp(0.0, max_x);
        let y = y.clamp(0.0, max_y);
        let (x0, y0) = (x.floor(), y.floor());
        let (x1, y1) = ((x0 + 1.0).min(max_x), (y0 + 1.0).min(max_y));
        let (fx, fy) = (x - x0, y - y0);
        let at = |xx: f32, yy: f32| {
            let index = (yy as usize * self.width as usize + xx as usize) * 3 + c;
            f32::from(self.data[index])
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// An axis-aligned box in pixels of the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxF {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl BoxF {
    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with `other`, in [0, 1].
    pub fn iou(&self, other: &BoxF) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let intersection = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - intersection;
        if union <= 0.0 { 0.0 } else { intersection / union }
    }

    /// Whether (x, y) lies inside the box.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x && x <= self.x + self.width && y >= self.y && y <= self.y + self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BoxF { x: 0.0, y: 0.0, width: 10.0, height: 10.0 };
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BoxF { x: 20.0, ..a }), 0.0);
        let half = BoxF { x: 5.0, ..a };
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn bilinear_sampling_interpolates() {
        let frame = RgbFrame::new(2, 1, vec![0, 0, 0, 100, 200, 50]).expect("valid");
        assert_eq!(frame.sample(0.5, 0.0, 0), 50.0);
        assert_eq!(frame.sample(1.0, 0.0, 1), 200.0);
        assert_eq!(frame.sample(-3.0, 0.0, 2), 0.0);
        assert!(RgbFrame::new(2, 2, vec![0; 5]).is_none());
    }
}
