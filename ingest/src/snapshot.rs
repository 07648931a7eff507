//! The last analysed frame of each stream, as operators check a camera: what it sees, what was
//! detected in it (faces green, bodies blue) and the region of interest (yellow). A worker renders one
//! at most every [`SNAPSHOT_INTERVAL`] into the service's [`SnapshotBoard`], which the API serves
//! (`GET /v1/streams/{id}/snapshot`; `GET /v1/streams/{id}/frame` with its boxes and their tracks, for
//! the camera wall to name the people on them).
//!
//! A stream that shows viewers its frames (`blur_faces_for_viewers`) gets a second JPEG of the same
//! frame with every detected face, and the head of every detected body, pixelated beyond
//! recognition: the one viewers are served. A face the detector missed in that frame is not blurred,
//! which is why the head of each body is too.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

use crate::api::Roi;
use crate::events::encode_jpeg;
use crate::frame::{BoxF, RgbFrame};
use crate::track::{Detection, Kind};

/// How often a running stream's snapshot is renewed: often enough to follow a scene, rarely enough
/// that encoding it costs analysis nothing measurable (one JPEG a second).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// One analysed frame as a JPEG.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The JPEG.
    pub jpeg: Arc<[u8]>,
    /// The JPEG with every detected face and head blurred, for a stream that shows viewers its
    /// frames (none otherwise).
    pub blurred_jpeg: Option<Arc<[u8]>>,
    /// When the frame was captured, ms since the epoch.
    pub capture_ms: i64,
    /// Faces detected in it.
    pub faces: usize,
    /// Bodies detected in it.
    pub bodies: usize,
    /// The frame's size, pixels.
    pub width: u32,
    /// Its height, pixels.
    pub height: u32,
    /// What was detected, each with its track.
    pub boxes: Vec<SnapshotBox>,
}

/// A detection on a snapshot: its kind, its track and its box as fractions of the frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SnapshotBox {
    /// `face` or `body`.
    pub kind: String,
    /// The track it belongs to (its reports carry this id once it is confirmed).
    pub track_id: Uuid,
    /// Left edge, fraction of the width.
    pub x: f32,
    /// Top edge, fraction of the height.
    pub y: f32,
    /// Width, fraction of the frame's.
    pub width: f32,
    /// Height, fraction of the frame's.
    pub height: f32,
}

/// The latest snapshot of each stream, by id.
pub type SnapshotBoard = Arc<RwLock<HashMap<Uuid, Snapshot>>>;

/// Where one stream's worker puts its snapshots.
#[derive(Debug)]
pub struct SnapshotSlot {
    /// The service's board.
    pub board: SnapshotBoard,
    /// The stream.
    pub stream: Uuid,
    /// Whether a blurred copy of each snapshot is rendered for viewers.
    pub blur_faces_for_viewers: bool,
    /// The stream's live view: while someone watches, every analysed frame is rendered for it.
    pub live: crate::live::LiveSender,
}

impl SnapshotSlot {
    /// Whether a snapshot is due for a frame analysed now, the last one rendered `since` ago (none:
    /// never): every [`SNAPSHOT_INTERVAL`], and every frame while the live view is watched.
    pub fn due(&self, since: Option<Duration>) -> bool {
        self.live.watched() || since.is_none_or(|since| since >= SNAPSHOT_INTERVAL)
    }

    /// Replaces the stream's snapshot, and shows it to the live view's viewers.
    pub fn put(&self, snapshot: Snapshot) {
        self.live.send(&snapshot);
        if let Ok(mut board) = self.board.write() {
            board.insert(self.stream, snapshot);
        }
    }
}

const FACE_COLOUR: [u8; 3] = [0x2e, 0xcc, 0x40];
const BODY_COLOUR: [u8; 3] = [0x1f, 0x8f, 0xff];
const ROI_COLOUR: [u8; 3] = [0xff, 0xd7, 0x00];

/// `frame` with `detections` (of the tracks `tracks`, in the same order) and `roi` drawn on it, as a
/// [`Snapshot`] captured at `capture_ms`; with a blurred copy when `blur_faces_for_viewers`.
pub fn render(
    frame: &RgbFrame,
    detections: &[Detection],
    tracks: &[Uuid],
    roi: Option<Roi>,
    capture_ms: i64,
    blur_faces_for_viewers: bool,
) -> Option<Snapshot> {
    let marked = |mut canvas: RgbFrame| {
        let thickness = (frame.width / 320).max(2);
        if let Some(roi) = roi {
            let (w, h) = (frame.width as f32, frame.height as f32);
            let area = BoxF { x: roi.x * w, y: roi.y * h, width: roi.width * w, height: roi.height * h };
            outline(&mut canvas, &area, ROI_COLOUR, thickness);
        }
        for detection in detections {
            let colour = if detection.kind == Kind::Face { FACE_COLOUR } else { BODY_COLOUR };
            outline(&mut canvas, &detection.bbox, colour, thickness);
        }
        encode_jpeg(&canvas)
    };
    let blurred_jpeg = match blur_faces_for_viewers {
        true => {
            let mut canvas = frame.clone();
            for detection in detections {
                pixelate(&mut canvas, &identifying_area(detection));
            }
            Some(marked(canvas)?.into())
        }
        false => None,
    };
    let faces = detections.iter().filter(|d| d.kind == Kind::Face).count();
    let (w, h) = (frame.width.max(1) as f32, frame.height.max(1) as f32);
    let boxes = detections
        .iter()
        .zip(tracks)
        .map(|(detection, track)| SnapshotBox {
            kind: if detection.kind == Kind::Face { "face" } else { "body" }.to_owned(),
            track_id: *track,
            x: (detection.bbox.x / w).clamp(0.0, 1.0),
            y: (detection.bbox.y / h).clamp(0.0, 1.0),
            width: (detection.bbox.width / w).clamp(0.0, 1.0),
            height: (detection.bbox.height / h).clamp(0.0, 1.0),
        })
        .collect();
    Some(Snapshot {
        jpeg: marked(frame.clone())?.into(),
        blurred_jpeg,
        capture_ms,
        faces,
        bodies: detections.len() - faces,
        width: frame.width,
        height: frame.height,
        boxes,
    })
}

/// The part of a detection that identifies someone: a face with a margin of a quarter of its size
/// on each side (hair, ears, the detector's tight box), or the top fifth of a body (the head).
fn identifying_area(detection: &Detection) -> BoxF {
    let b = &detection.bbox;
    match detection.kind {
        Kind::Face => {
            let (dx, dy) = (b.width / 4.0, b.height / 4.0);
            BoxF { x: b.x - dx, y: b.y - dy, width: b.width + 2.0 * dx, height: b.height + 2.0 * dy }
        }
        _ => BoxF { x: b.x, y: b.y, width: b.width, height: b.height / 5.0 },
    }
}

/// Replaces `area` (clipped to the frame) by a mosaic of at most 4 x 4 cells, each the mean colour
/// of its pixels: nothing of a face's features is left to recognise.
fn pixelate(frame: &mut RgbFrame, area: &BoxF) {
    let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    let (left, top) = (clamp(area.x, frame.width), clamp(area.y, frame.height));
    let (right, bottom) = (clamp(area.x + area.width, frame.width), clamp(area.y + area.height, frame.height));
    if right <= left || bottom <= top {
        return;
    }
    let cell = ((right - left).max(bottom - top)).div_ceil(4).max(1);
    let row = frame.width as usize * 3;
    for cell_top in (top..bottom).step_by(cell as usize) {
        let cell_bottom = (cell_top + cell).min(bottom);
        for cell_left in (left..right).step_by(cell as usize) {
            let cell_right = (cell_left + cell).min(right);
            let pixels = || {
                (cell_top..cell_bottom)
                    .flat_map(move |y| (cell_left..cell_right).map(move |x| y as usize * row + x as usize * 3))
            };
            let mut sum = [0u64; 3];
            let mut count = 0u64;
            for at in pixels() {
                for (total, value) in sum.iter_mut().zip(&frame.data[at..at + 3]) {
                    *total += u64::from(*value);
                }
                count += 1;
            }
            let mean = sum.map(|total| u8::try_from(total / count.max(1)).unwrap_or(u8::MAX));
            for at in pixels() {
                frame.data[at..at + 3].copy_from_slice(&mean);
            }
        }
    }
}

/// Draws the outline of `bbox` (clipped to the frame), `thickness` pixels wide, inside the box.
fn outline(frame: &mut RgbFrame, bbox: &BoxF, colour: [u8; 3], thickness: u32) {
    let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    let (left, top) = (clamp(bbox.x, frame.width), clamp(bbox.y, frame.height));
    let (right, bottom) = (clamp(bbox.x + bbox.width, frame.width), clamp(bbox.y + bbox.height, frame.height));
    if right <= left || bottom <= top {
        return;
    }
    let row = frame.width as usize * 3;
    for y in top..bottom {
        let edge_row = y < top + thickness || y + thickness >= bottom;
        for x in left..right {
            if edge_row || x < left + thickness || x + thickness >= right {
                let at = y as usize * row + x as usize * 3;
                frame.data[at..at + 3].copy_from_slice(&colour);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(frame: &RgbFrame, x: u32, y: u32) -> [u8; 3] {
        let at = (y * frame.width + x) as usize * 3;
        [frame.data[at], frame.data[at + 1], frame.data[at + 2]]
    }

    #[test]
    fn outlines_are_drawn_inside_the_box_and_clipped_to_the_frame() {
        let mut frame = RgbFrame::new(40, 30, vec![0; 40 * 30 * 3]).expect("frame");
        outline(&mut frame, &BoxF { x: 10.0, y: 5.0, width: 20.0, height: 10.0 }, FACE_COLOUR, 2);
        assert_eq!(pixel(&frame, 10, 5), FACE_COLOUR);
        assert_eq!(pixel(&frame, 29, 14), FACE_COLOUR);
        assert_eq!(pixel(&frame, 11, 10), FACE_COLOUR, "left edge, two pixels wide");
        assert_eq!(pixel(&frame, 12, 10), [0, 0, 0], "inside stays as it was");
        assert_eq!(pixel(&frame, 30, 10), [0, 0, 0], "outside stays as it was");
        outline(&mut frame, &BoxF { x: -5.0, y: 20.0, width: 100.0, height: 50.0 }, BODY_COLOUR, 2);
        assert_eq!(pixel(&frame, 0, 29), BODY_COLOUR);
        assert_eq!(pixel(&frame, 39, 25), BODY_COLOUR);
    }

    #[test]
    fn a_snapshot_is_a_jpeg_of_the_frame_with_its_counts() {
        let frame = RgbFrame::new(64, 48, vec![128; 64 * 48 * 3]).expect("frame");
        let face = Detection {
            kind: Kind::Face,
            bbox: BoxF { x: 4.0, y: 4.0, width: 16.0, height: 16.0 },
            score: 0.9,
            landmarks: vec![],
        };
        let body = Detection { kind: Kind::Body, ..face.clone() };
        let tracks = [Uuid::new_v4(), Uuid::new_v4()];
        let snapshot = render(&frame, &[face, body], &tracks, None, 7, false).expect("encoded");
        assert!(snapshot.blurred_jpeg.is_none(), "no blurred copy unless the stream shows viewers its frames");
        assert_eq!((snapshot.faces, snapshot.bodies, snapshot.capture_ms), (1, 1, 7));
        assert_eq!((snapshot.width, snapshot.height), (64, 48));
        let face_box = &snapshot.boxes[0];
        assert_eq!((face_box.kind.as_str(), face_box.track_id), ("face", tracks[0]));
        assert_eq!(
            (face_box.x, face_box.y, face_box.width, face_box.height),
            (4.0 / 64.0, 4.0 / 48.0, 0.25, 16.0 / 48.0)
        );
        assert_eq!((snapshot.boxes[1].kind.as_str(), snapshot.boxes[1].track_id), ("body", tracks[1]));
        let decoded = RgbFrame::decode(&snapshot.jpeg).expect("a JPEG");
        assert_eq!((decoded.width, decoded.height), (64, 48));
    }

    /// A frame of fine detail: a checkerboard of one-pixel squares.
    fn checkerboard(width: u32, height: u32) -> RgbFrame {
        let data = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [if (x + y) % 2 == 0 { 255 } else { 0 }; 3]))
            .collect();
        RgbFrame::new(width, height, data).expect("frame")
    }

    #[test]
    fn a_pixelated_area_keeps_no_detail_and_the_rest_is_untouched() {
        let mut frame = checkerboard(40, 40);
        pixelate(&mut frame, &BoxF { x: 8.0, y: 8.0, width: 16.0, height: 16.0 });
        for y in 8..24 {
            for x in 8..24 {
                assert_eq!(pixel(&frame, x, y), [127; 3], "({x}, {y}) is its cell's mean");
            }
        }
        assert_eq!(pixel(&frame, 7, 8), [0; 3], "outside the area stays as it was");
        assert_eq!(pixel(&frame, 24, 24), [255; 3], "outside the area stays as it was");
    }

    #[test]
    fn the_blurred_copy_hides_each_face_with_a_margin_and_each_head() {
        let frame = checkerboard(200, 200);
        let face = Detection {
            kind: Kind::Face,
            bbox: BoxF { x: 40.0, y: 40.0, width: 40.0, height: 40.0 },
            score: 0.9,
            landmarks: vec![],
        };
        let body = Detection {
            kind: Kind::Body,
            bbox: BoxF { x: 120.0, y: 20.0, width: 60.0, height: 150.0 },
            ..face.clone()
        };
        let snapshot =
            render(&frame, &[face, body], &[Uuid::new_v4(), Uuid::new_v4()], None, 7, true).expect("encoded");
        let whole = RgbFrame::decode(&snapshot.jpeg).expect("a JPEG");
        let blurred = RgbFrame::decode(snapshot.blurred_jpeg.as_deref().expect("a blurred copy")).expect("a JPEG");
        // Detail is the difference between neighbours: gone inside the face, its margin and the
        // head; kept in the body below the head and elsewhere.
        let detail = |frame: &RgbFrame, x0: u32, y0: u32, x1: u32, y1: u32| {
            let mut total = 0u64;
            for y in y0..y1 {
                for x in x0..x1 {
                    total += pixel(frame, x, y)[0].abs_diff(pixel(frame, x + 1, y)[0]) as u64;
                }
            }
            total / u64::from((x1 - x0) * (y1 - y0))
        };
        assert!(detail(&whole, 45, 45, 75, 75) > 100, "the face is whole in the JPEG analysts see");
        for (what, area) in [("face", (45, 45, 75, 75)), ("margin", (32, 32, 38, 88)), ("head", (125, 25, 175, 48))] {
            let (x0, y0, x1, y1) = area;
            assert!(detail(&blurred, x0, y0, x1, y1) < 30, "{what} still shows detail");
        }
        assert!(detail(&blurred, 125, 60, 175, 160) > 100, "the body below the head is as it was");
        assert!(detail(&blurred, 5, 120, 35, 190) > 100, "the rest of the frame is as it was");
    }
}
