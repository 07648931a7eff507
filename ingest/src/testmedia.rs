//! Test media: a video in which people (heads cut from real photos) enter, move and leave at known
//! times, encoded with GStreamer (H.264 in mp4), and its ground truth (each face's box in each frame).
//! Tests, the benchmark and the demo use it; nothing here runs in production.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::Path;

use crate::detect::{DetectError, FaceDetector};
use crate::frame::{BoxF, RgbFrame};

/// A head cut from a photo, and where the face lies in it (fractions of the cut's size).
#[derive(Debug, Clone)]
pub struct Head {
    /// Who it is.
    pub name: String,
    /// The cut, RGB.
    pub image: RgbFrame,
    /// Face box inside the cut, as fractions of its width and height.
    pub face: BoxF,
}

/// Cuts the most confident face of `photo` with `margin` (fraction of the face size) around it.
pub fn cut_head(detector: &mut FaceDetector, name: &str, photo: &RgbFrame, margin: f32) -> Result<Head, DetectError> {
    let face = detector.detect(photo)?.into_iter().next().ok_or_else(|| DetectError::Inference {
        model: "retinaface",
        message: format!("no face in the photo of {name}"),
    })?;
    let side = face.bbox.width.max(face.bbox.height) * (1.0 + 2.0 * margin);
    let (cx, cy) = (face.bbox.x + face.bbox.width / 2.0, face.bbox.y + face.bbox.height / 2.0);
    let square = BoxF { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side };
    // The crop is clipped to the photo: express the face relative to what was really cut.
    let (image, (left, top)) = photo.crop_around(&square, 0.0);
    let (left, top) = (left as f32, top as f32);
    let (w, h) = (image.width as f32, image.height as f32);
    let relative = BoxF {
        x: (face.bbox.x - left) / w,
        y: (face.bbox.y - top) / h,
        width: face.bbox.width / w,
        height: face.bbox.height / h,
    };
    Ok(Head { name: name.to_owned(), image, face: relative })
}

/// One person's part in the video: visible from `enter_ms` to `leave_ms`, moving in a straight line.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Their head.
    pub head: Head,
    /// First visible moment.
    pub enter_ms: i64,
    /// Last visible moment.
    pub leave_ms: i64,
    /// Top-left corner of the head at `enter_ms`, pixels.
    pub from: (f32, f32),
    /// Top-left corner at `leave_ms`.
    pub to: (f32, f32),
    /// Height of the pasted head, pixels (width keeps the cut's aspect).
    pub size: f32,
}

impl Actor {
    /// Where the head is at `t_ms`, if visible.
    pub fn head_box(&self, t_ms: i64) -> Option<BoxF> {
        if t_ms < self.enter_ms || t_ms > self.leave_ms {
            return None;
        }
        let f = (t_ms - self.enter_ms) as f32 / (self.leave_ms - self.enter_ms).max(1) as f32;
        let width = self.size * self.head.image.width as f32 / self.head.image.height as f32;
        Some(BoxF {
            x: self.from.0 + (self.to.0 - self.from.0) * f,
            y: self.from.1 + (self.to.1 - self.from.1) * f,
            width,
            height: self.size,
        })
    }

    /// Where the face is at `t_ms`, if visible: the ground truth.
    pub fn face_box(&self, t_ms: i64) -> Option<BoxF> {
        let head = self.head_box(t_ms)?;
        let face = &self.head.face;
        Some(BoxF {
            x: head.x + face.x * head.width,
            y: head.y + face.y * head.height,
            width: face.width * head.width,
            height: face.height * head.height,
        })
    }
}

/// The standard cast of the tests, the benchmark and the demo: three people (heads cut from the
/// photos `infra/models` puts in `images_dir`) who enter, move and leave at known times on separate
/// paths of a [`STANDARD_VIDEO`] frame.
pub fn standard_cast(detector: &mut FaceDetector, images_dir: &Path) -> Result<Vec<Actor>, String> {
    let mut head = |name: &str, file: &str| -> Result<Head, String> {
        let photo = RgbFrame::open(&images_dir.join(file))?;
        cut_head(detector, name, &photo, 0.4).map_err(|e| format!("{name}: {e}"))
    };
    Ok(vec![
        Actor {
            head: head("obama", "obama.jpg")?,
            enter_ms: 500,
            leave_ms: 4_500,
            from: (40.0, 60.0),
            to: (700.0, 80.0),
            size: 220.0,
        },
        Actor {
            head: head("biden", "biden.jpg")?,
            enter_ms: 2_000,
            leave_ms: 6_500,
            from: (1000.0, 430.0),
            to: (300.0, 420.0),
            size: 230.0,
        },
        Actor {
            head: head("astronaut", "astronaut.png")?,
            enter_ms: 4_000,
            leave_ms: 7_500,
            from: (900.0, 40.0),
            to: (1000.0, 200.0),
            size: 200.0,
        },
    ])
}

/// The standard video: 8 s, 1280x720 at 15 fps.
pub const STANDARD_VIDEO: VideoSpec = VideoSpec { width: 1280, height: 720, fps: 15, duration_ms: 8_000 };

/// `cast` repeated every [`STANDARD_VIDEO`] length over `duration_ms`, so faces are on screen
/// throughout a longer video.
pub fn repeated_cast(cast: &[Actor], duration_ms: i64) -> Vec<Actor> {
    let rounds = (duration_ms + STANDARD_VIDEO.duration_ms - 1) / STANDARD_VIDEO.duration_ms;
    (0..rounds)
        .flat_map(|round| {
            let shift = round * STANDARD_VIDEO.duration_ms;
            cast.iter().map(move |a| Actor { enter_ms: a.enter_ms + shift, leave_ms: a.leave_ms + shift, ..a.clone() })
        })
        .collect()
}

/// The ground truth of a video as JSON: for every frame, each visible person's face box (pixels).
pub fn ground_truth(spec: &VideoSpec, actors: &[Actor]) -> serde_json::Value {
    let frames: Vec<serde_json::Value> = (0..spec.duration_ms * i64::from(spec.fps) / 1000)
        .map(|n| {
            let t_ms = n * 1000 / i64::from(spec.fps);
            let faces: Vec<serde_json::Value> = actors
                .iter()
                .filter_map(|a| {
                    let b = a.face_box(t_ms)?;
                    Some(serde_json::json!({"person": a.head.name, "x": b.x, "y": b.y, "width": b.width, "height": b.height}))
                })
                .collect();
            serde_json::json!({"frame": n, "t_ms": t_ms, "faces": faces})
        })
        .collect();
    let people: Vec<serde_json::Value> = actors
        .iter()
        .map(|a| serde_json::json!({"person": a.head.name, "enter_ms": a.enter_ms, "leave_ms": a.leave_ms}))
        .collect();
    serde_json::json!({
        "width": spec.width, "height": spec.height, "fps": spec.fps, "duration_ms": spec.duration_ms,
        "people": people, "frames": frames,
    })
}

/// The video's shape.
#[derive(Debug, Clone)]
pub struct VideoSpec {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Length.
    pub duration_ms: i64,
}

/// Renders frame `t_ms`: a textured background with every visible head pasted on it.
pub fn render_frame(spec: &VideoSpec, actors: &[Actor], t_ms: i64) -> RgbFrame {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let mut data = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let stripe = if (x / 40 + y / 40) % 2 == 0 { 12 } else { 0 };
            data[i] = (60 + x * 60 / w + stripe) as u8;
            data[i + 1] = (80 + y * 50 / h + stripe) as u8;
            data[i + 2] = (70 + stripe) as u8;
        }
    }
    for actor in actors {
        let Some(head) = actor.head_box(t_ms) else { continue };
        let image = &actor.head.image;
        let (sx, sy) = (image.width as f32 / head.width, image.height as f32 / head.height);
        let x0 = head.x.max(0.0) as usize;
        let y0 = head.y.max(0.0) as usize;
        let x1 = ((head.x + head.width).min(w as f32)) as usize;
        let y1 = ((head.y + head.height).min(h as f32)) as usize;
        for y in y0..y1 {
            for x in x0..x1 {
                let (u, v) = ((x as f32 - head.x) * sx, (y as f32 - head.y) * sy);
                let i = (y * w + x) * 3;
                for c in 0..3 {
                    data[i + c] = image.sample(u, v, c).round() as u8;
                }
            }
        }
    }
    RgbFrame { width: spec.width, height: spec.height, data }
}

/// Encodes the video to `path` (H.264 in mp4) through GStreamer.
pub fn encode(spec: &VideoSpec, actors: &[Actor], path: &Path) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    let description = format!(
        "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=veryfast bitrate=4000 key-int-max={fps} ! mp4mux ! filesink location=\"{path}\"",
        fps = spec.fps,
        path = path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let source = pipeline.by_name("src").and_then(|e| e.downcast::<gst_app::AppSrc>().ok()).ok_or("no appsrc")?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGB")
        .field("width", spec.width as i32)
        .field("height", spec.height as i32)
        .field("framerate", gst::Fraction::new(spec.fps as i32, 1))
        .build();
    source.set_caps(Some(&caps));
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    let frames = spec.duration_ms * i64::from(spec.fps) / 1000;
    let stride = (spec.width as usize * 3 + 3) & !3;
    for n in 0..frames {
        let t_ms = n * 1000 / i64::from(spec.fps);
        let frame = render_frame(spec, actors, t_ms);
        let mut padded = vec![0u8; stride * spec.height as usize];
        for (row, chunk) in frame.data.chunks(spec.width as usize * 3).enumerate() {
            padded[row * stride..row * stride + chunk.len()].copy_from_slice(chunk);
        }
        let mut buffer = gst::Buffer::from_mut_slice(padded);
        if let Some(buffer) = buffer.get_mut() {
            buffer.set_pts(gst::ClockTime::from_mseconds(t_ms as u64));
            buffer.set_duration(gst::ClockTime::from_mseconds(1000 / u64::from(spec.fps)));
        }
        source.push_buffer(buffer).map_err(|e| format!("pushing frame {n}: {e:?}"))?;
    }
    source.end_of_stream().map_err(|e| format!("{e:?}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error])
        .ok_or("encoding timed out")?;
    let result = match message.view() {
        gst::MessageView::Error(e) => Err(format!("encoding: {}", e.error())),
        _ => Ok(()),
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// A frame of a decoded video: when it is shown and its mean grey level (a cheap fingerprint to
/// compare two decodings of the same picture).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodedFrame {
    /// Presentation time, ms.
    pub pts_ms: i64,
    /// Mean of its grey levels (0-255).
    pub mean_grey: f64,
}

/// A decoded video: every frame's time and fingerprint, and the pictures asked for with their times.
pub type DecodedVideo = (Vec<DecodedFrame>, Vec<(i64, RgbFrame)>);

/// Decodes the MP4 (plain or fragmented) at `path` with GStreamer: every frame's time and
/// fingerprint, and the pictures of the first frames shown at or after each of `pictures_at` (ms).
pub fn decode_mp4(path: &Path, pictures_at: &[i64]) -> Result<DecodedVideo, String> {
    gst::init().map_err(|e| e.to_string())?;
    let description = format!(
        "filesrc location=\"{}\" ! qtdemux ! decodebin ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let sink = pipeline.by_name("sink").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or("no appsink")?;
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    let (mut frames, mut pictures) = (Vec::new(), Vec::new());
    let mut wanted: Vec<i64> = pictures_at.to_vec();
    wanted.sort_unstable();
    while let Ok(sample) = sink.pull_sample() {
        let caps = sample.caps().and_then(|c| c.structure(0).map(|s| s.to_owned())).ok_or("no caps")?;
        let width = caps.get::<i32>("width").map_err(|e| e.to_string())? as usize;
        let height = caps.get::<i32>("height").map_err(|e| e.to_string())? as usize;
        let buffer = sample.buffer().ok_or("no buffer")?;
        let pts_ms = buffer.pts().map(|t| t.mseconds() as i64).ok_or("a frame without a time")?;
        let map = buffer.map_readable().map_err(|e| e.to_string())?;
        let stride = (width * 3 + 3) & !3;
        let mut data = Vec::with_capacity(width * height * 3);
        for row in 0..height {
            data.extend_from_slice(&map[row * stride..row * stride + width * 3]);
        }
        let mean_grey = data.iter().map(|&v| f64::from(v)).sum::<f64>() / data.len().max(1) as f64;
        frames.push(DecodedFrame { pts_ms, mean_grey });
        while wanted.first().is_some_and(|&at| at <= pts_ms) {
            wanted.remove(0);
            pictures.push((pts_ms, RgbFrame { width: width as u32, height: height as u32, data: data.clone() }));
        }
    }
    let error = pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]));
    let _ = pipeline.set_state(gst::State::Null);
    match error.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => Err(format!("decoding {}: {}", path.display(), e.error())),
        _ => Ok((frames, pictures)),
    }
}
