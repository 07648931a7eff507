//! Frames as the detectors see them.

use std::borrow::Cow;

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

    /// Decodes a PNG or JPEG image.
    pub fn decode(bytes: &[u8]) -> Result<Self, image::ImageError> {
        Ok(Self::from_image(image::load_from_memory(bytes)?))
    }

    fn from_image(image: image::DynamicImage) -> Self {
        // An 8-bit RGB image is taken as it is; others are converted once.
        let image = image.into_rgb8();
        let (width, height) = image.dimensions();
        Self { width, height, data: image.into_raw() }
    }

    /// Decodes a PNG or JPEG image of at most `max_pixels` whose decoding takes at most what an
    /// 8-bit RGB image of `max_pixels` takes (3 bytes a pixel), both read from its header before
    /// anything is decoded: a small file can declare an image of gigabytes, and a 16-bit RGBA PNG
    /// takes 8 bytes a pixel decoded, then 3 more converted. Wider formats are refused past that
    /// budget with a message that says what to send instead.
    pub fn decode_bounded(bytes: &[u8], max_pixels: u64) -> Result<Self, String> {
        use image::ImageDecoder as _;
        let budget = max_pixels.saturating_mul(3);
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("reading the image: {e}"))?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(budget);
        reader.limits(limits);
        let decoder = reader.into_decoder().map_err(|e| format!("not a JPEG or PNG image: {e}"))?;
        let (width, height) = decoder.dimensions();
        let pixels = u64::from(width) * u64::from(height);
        if pixels > max_pixels {
            return Err(format!("the image is {width}x{height} pixels, more than the {max_pixels} allowed"));
        }
        let color = decoder.color_type();
        let converted = if color == image::ColorType::Rgb8 { 0 } else { 3 };
        let cost = pixels.saturating_mul(u64::from(color.bytes_per_pixel()) + converted);
        if cost > budget {
            return Err(format!(
                "the image is {width}x{height} pixels of {color:?}, which takes {} MB to decode, more than the {} MB \
                 allowed; send an 8-bit JPEG or PNG, or a smaller image",
                cost.div_ceil(1_000_000),
                budget / 1_000_000
            ));
        }
        let image = image::DynamicImage::from_decoder(decoder).map_err(|e| format!("not a JPEG or PNG image: {e}"))?;
        Ok(Self::from_image(image))
    }

    /// Reads and decodes a PNG or JPEG file.
    pub fn open(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::decode(&bytes).map_err(|e| format!("decoding {}: {e}", path.display()))
    }

    /// The part of the frame under `bbox` grown by `margin` of its size on every side, clipped to the
    /// frame (at least one pixel), and its top-left corner in frame pixels.
    pub fn crop_around(&self, bbox: &BoxF, margin: f32) -> (RgbFrame, (u32, u32)) {
        let left = (bbox.x - bbox.width * margin).floor().clamp(0.0, (self.width - 1) as f32) as u32;
        let top = (bbox.y - bbox.height * margin).floor().clamp(0.0, (self.height - 1) as f32) as u32;
        let right = (bbox.x + bbox.width * (1.0 + margin)).ceil().clamp(left as f32 + 1.0, self.width as f32) as u32;
        let bottom = (bbox.y + bbox.height * (1.0 + margin)).ceil().clamp(top as f32 + 1.0, self.height as f32) as u32;
        let (width, height) = (right - left, bottom - top);
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        for y in top..bottom {
            let start = ((y * self.width + left) * 3) as usize;
            data.extend_from_slice(&self.data[start..start + (width * 3) as usize]);
        }
        (RgbFrame { width, height, data }, (left, top))
    }

    /// Bilinear sample of the three channels at (x, y) in pixel coordinates (clamped to the frame).
    pub fn sample_pixel(&self, x: f32, y: f32) -> [f32; 3] {
        [self.sample(x, y, 0), self.sample(x, y, 1), self.sample(x, y, 2)]
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

    /// The frame as JPEG of `quality` (1-100); `None` if it cannot be encoded (a side over 65535).
    pub fn to_jpeg(&self, quality: u8) -> Option<Vec<u8>> {
        let (width, height) = (u16::try_from(self.width).ok()?, u16::try_from(self.height).ok()?);
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, quality)
            .encode(&self.data, width, height, jpeg_encoder::ColorType::Rgb)
            .ok()?;
        Some(out)
    }

    /// The frame scaled down (aspect kept) so neither side exceeds `max_side`; as it is if it fits.
    pub fn fitted(&self, max_side: u32) -> RgbFrame {
        let longest = self.width.max(self.height);
        if longest <= max_side {
            return self.clone();
        }
        let scale = max_side as f32 / longest as f32;
        let (width, height) =
            (((self.width as f32 * scale).round() as u32).max(1), ((self.height as f32 * scale).round() as u32).max(1));
        let Some(image) = image::RgbImage::from_raw(self.width, self.height, self.data.clone()) else {
            return self.clone();
        };
        let scaled = image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle);
        RgbFrame { width, height, data: scaled.into_raw() }
    }
}

/// One output column's or row's bilinear taps: the two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Taps {
    first: usize,
    second: usize,
    weight: f32,
}

/// The taps of `count` output positions at `scale` output pixels per source pixel, over a source
/// axis of `length` pixels (clamped to it, as [`RgbFrame::sample`] does).
fn taps(count: usize, scale: f32, length: u32) -> Vec<Taps> {
    let max = (length - 1) as f32;
    (0..count)
        .map(|i| {
            let source = ((i as f32 + 0.5) / scale - 0.5).clamp(0.0, max);
            let first = source.floor();
            Taps { first: first as usize, second: (first + 1.0).min(max) as usize, weight: source - first }
        })
        .collect()
}

impl RgbFrame {
    /// The frame resampled at `scale` output pixels per frame pixel into a `width` x `height` frame
    /// anchored at the top-left corner, bilinearly ([`Self::sample`] at pixel centres, rounded). The
    /// frame itself when nothing changes. Separable, with taps computed once per row and column: each
    /// output row blends two source rows (contiguous, so it vectorises), then interpolates across. This
    /// is the detectors' preprocessing hot path.
    pub fn resized(&self, width: usize, height: usize, scale: f32) -> Cow<'_, RgbFrame> {
        if scale == 1.0 && width == self.width as usize && height == self.height as usize {
            return Cow::Borrowed(self);
        }
        let (width, height) = (width.max(1), height.max(1));
        let columns = taps(width, scale, self.width);
        let stride = self.width as usize * 3;
        let mut data = vec![0u8; width * height * 3];
        let mut blended = vec![0.0f32; stride];
        for (row, out) in taps(height, scale, self.height).into_iter().zip(data.chunks_exact_mut(width * 3)) {
            let top = &self.data[row.first * stride..][..stride];
            let bottom = &self.data[row.second * stride..][..stride];
            for ((value, &upper), &lower) in blended.iter_mut().zip(top).zip(bottom) {
                *value = lerp(upper, lower, row.weight);
            }
            for (pixel, column) in out.chunks_exact_mut(3).zip(&columns) {
                let (a, b) = (&blended[column.first * 3..][..3], &blended[column.second * 3..][..3]);
                for c in 0..3 {
                    pixel[c] = to_byte(a[c] + (b[c] - a[c]) * column.weight);
                }
            }
        }
        Cow::Owned(RgbFrame { width: width as u32, height: height as u32, data })
    }
}

/// A channel value rounded to a byte.
fn to_byte(value: f32) -> u8 {
    (value + 0.5).clamp(0.0, 255.0) as u8
}

fn lerp(a: u8, b: u8, weight: f32) -> f32 {
    let a = f32::from(a);
    a + (f32::from(b) - a) * weight
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

    fn png(image: image::DynamicImage) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn decoding_is_bounded_by_what_the_decoded_image_takes() {
        let max_pixels = 200 * 200;
        let rgb = png(image::DynamicImage::new_rgb8(200, 200));
        assert_eq!(RgbFrame::decode_bounded(&rgb, max_pixels).map(|f| (f.width, f.height)), Ok((200, 200)));
        let over = png(image::DynamicImage::new_rgb8(201, 200));
        assert!(RgbFrame::decode_bounded(&over, max_pixels).is_err_and(|e| e.contains("more than the 40000 allowed")));
        // 16-bit RGBA takes 8 bytes a pixel decoded and 3 converted: within the pixel count, over
        // the budget of 3 bytes a pixel, refused before decoding; a quarter of it fits.
        let wide = png(image::DynamicImage::new_rgba16(200, 200));
        let refused = RgbFrame::decode_bounded(&wide, max_pixels).unwrap_err();
        assert!(refused.contains("Rgba16") && refused.contains("8-bit"), "{refused}");
        let small_wide = png(image::DynamicImage::new_rgba16(100, 100));
        assert_eq!(RgbFrame::decode_bounded(&small_wide, max_pixels).map(|f| f.data.len()), Ok(100 * 100 * 3));
    }

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

    #[test]
    fn resizing_matches_per_pixel_sampling() {
        let data: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let frame = RgbFrame::new(7, 5, data).expect("valid");
        for scale in [0.43f32, 0.5, 1.0, 1.7] {
            let (width, height) = ((7.0 * scale).round() as usize + 1, (5.0 * scale).round() as usize + 1);
            let resized = frame.resized(width, height, scale);
            assert_eq!((resized.width as usize, resized.height as usize), (width, height));
            for (y, x, c) in (0..height).flat_map(|y| (0..width).flat_map(move |x| (0..3).map(move |c| (y, x, c)))) {
                let (sx, sy) = ((x as f32 + 0.5) / scale - 0.5, (y as f32 + 0.5) / scale - 0.5);
                let value = f32::from(resized.data[(y * width + x) * 3 + c]);
                assert!((value - frame.sample(sx, sy, c)).abs() <= 0.5 + 1e-3, "scale {scale} at {x},{y}");
            }
        }
        assert!(matches!(frame.resized(7, 5, 1.0), Cow::Borrowed(_)), "an unchanged frame is not copied");
    }
}
