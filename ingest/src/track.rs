//! Tracking per stream: detections associated across frames (IoU against a constant-velocity
//! prediction, SORT-like, greedy best-IoU-first), track lifecycle, best shot per track, and faces
//! linked to the body that contains them.
//!
//! Lifecycle: a track is *tentative* until it was seen `min_hits` times, then *confirmed*. A frame
//! that does not match it makes it *lost*; lost for `lost_timeout_ms` it *ends*. Ended confirmed tracks
//! are reported (tentative ones were noise). With `live_reports`, a confirmed track is also reported
//! while it lasts: *first* as soon as its best shot reaches `recognisable_quality`, then *improved*
//! whenever its best shot became materially better (by `improvement`, at most every
//! `improvement_interval_ms`). Confirmed tracks also report a periodic *update* every
//! `update_interval_ms` when set. Every report carries the track's state so far and its sequence.
//!
//! Track ids are derived from the stream, the kind, the first sighting's time and the detection's
//! place in that frame, so the same frames give the same ids.

use std::collections::HashMap;

use uuid::Uuid;

use crate::frame::{BoxF, RgbFrame};

/// What a detection is: the contract's kind (a face, with landmarks, or a whole body).
pub use sightline_schemas::v1::ObjectKind as Kind;

/// One detection in one frame, as the tracker takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Face or body.
    pub kind: Kind,
    /// Box in frame pixels.
    pub bbox: BoxF,
    /// Detector score in [0, 1].
    pub score: f32,
    /// Five face landmarks (empty for bodies).
    pub landmarks: Vec<(f32, f32)>,
}

/// Why a track is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportReason {
    /// The first report of a live track whose best shot is good enough to recognise.
    First,
    /// The live track's best shot improved materially since its last report.
    Improved,
    /// A periodic update of a live track.
    Update,
    /// The track ended.
    Ended,
}

/// Tracker settings.
#[derive(Debug, Clone)]
pub struct TrackerSettings {
    /// Minimum IoU between a prediction and a detection to associate them.
    pub iou_threshold: f32,
    /// Sightings before a track is confirmed.
    pub min_hits: u32,
    /// A track unseen for this long ends.
    pub lost_timeout_ms: i64,
    /// Confirmed tracks report an update this often (0: only when they end).
    pub update_interval_ms: i64,
    /// Margin around the box in best-shot crops, as a fraction of the box size.
    pub crop_margin: f32,
    /// Report confirmed tracks while they last (first and improved reports), not only when they end.
    pub live_reports: bool,
    /// Best-shot [`quality`] at which a live track is first reported.
    pub recognisable_quality: f32,
    /// Relative gain in best-shot quality that makes an improved report (0.15: 15 % better).
    pub improvement: f32,
    /// Shortest time between a track's first or improved reports, ms.
    pub improvement_interval_ms: i64,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            iou_threshold: 0.3,
            min_hits: 3,
            lost_timeout_ms: 1_500,
            update_interval_ms: 0,
            crop_margin: 0.25,
            live_reports: true,
            recognisable_quality: 0.35,
            improvement: 0.15,
            improvement_interval_ms: 1_000,
        }
    }
}

/// The best view of a track so far.
#[derive(Debug, Clone, PartialEq)]
pub struct BestShot {
    /// When (ms since the epoch).
    pub time_ms: i64,
    /// Box in frame pixels.
    pub bbox: BoxF,
    /// Landmarks in frame pixels.
    pub landmarks: Vec<(f32, f32)>,
    /// Detector score.
    pub score: f32,
    /// Quality in [0, 1] (see [`quality`]).
    pub quality: f32,
    /// RGB crop with margin.
    pub crop: RgbFrame,
    /// Top-left corner of the crop in frame pixels.
    pub crop_origin: (u32, u32),
}

/// What the tracker reports about one track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackReport {
    /// Track id (unique within the stream).
    pub track_id: Uuid,
    /// Face or body.
    pub kind: Kind,
    /// First sighting (ms).
    pub first_seen_ms: i64,
    /// Last sighting (ms).
    pub last_seen_ms: i64,
    /// Frames it was detected in.
    pub frame_count: u32,
    /// Its best shot.
    pub best_shot: BestShot,
    /// For a face: the body track that contained it most often.
    pub parent_track_id: Option<Uuid>,
    /// Why it is reported.
    pub reason: ReportReason,
    /// How many reports this track has produced before this one (0 for the first).
    pub sequence: u32,
}

impl TrackReport {
    /// Whether this is the track's final report.
    pub fn ended(&self) -> bool {
        self.reason == ReportReason::Ended
    }
}

#[derive(Debug, Clone)]
struct Track {
    id: Uuid,
    kind: Kind,
    bbox: BoxF,
    /// Velocity of the box centre and size, pixels per ms.
    velocity: [f32; 4],
    last_update_ms: i64,
    first_seen_ms: i64,
    hits: u32,
    best: BestShot,
    parents: HashMap<Uuid, u32>,
    last_report_ms: i64,
    reports: u32,
    /// Quality of the best shot in the last first or improved report.
    reported_quality: Option<f32>,
}

impl Track {
    fn predicted(&self, now_ms: i64) -> BoxF {
        let dt = (now_ms - self.last_update_ms) as f32;
        let [vx, vy, vw, vh] = self.velocity;
        let width = (self.bbox.width + vw * dt).max(1.0);
        let height = (self.bbox.height + vh * dt).max(1.0);
        let cx = self.bbox.x + self.bbox.width / 2.0 + vx * dt;
        let cy = self.bbox.y + self.bbox.height / 2.0 + vy * dt;
        BoxF { x: cx - width / 2.0, y: cy - height / 2.0, width, height }
    }

    /// Alpha-beta update of position and velocity (a fixed-gain Kalman filter).
    fn update(&mut self, bbox: BoxF, now_ms: i64) {
        const ALPHA: f32 = 0.7;
        const BETA: f32 = 0.3;
        let dt = (now_ms - self.last_update_ms).max(1) as f32;
        let predicted = self.predicted(now_ms);
        if predicted.iou(&bbox) < self.bbox.iou(&bbox) {
            // Found nearer its last box than its prediction: the velocity was wrong (see
            // `Tracker::update`), so the track starts again from the sighting, at rest.
            self.bbox = bbox;
            self.velocity = [0.0; 4];
            self.last_update_ms = now_ms;
            self.hits += 1;
            return;
        }
        let centre = |b: &BoxF| [b.x + b.width / 2.0, b.y + b.height / 2.0, b.width, b.height];
        let (p, m) = (centre(&predicted), centre(&bbox));
        let mut state = [0.0f32; 4];
        for i in 0..4 {
            let residual = m[i] - p[i];
            state[i] = p[i] + ALPHA * residual;
            self.velocity[i] += BETA * residual / dt;
        }
        self.bbox = BoxF {
            x: state[0] - state[2] / 2.0,
            y: state[1] - state[3] / 2.0,
            width: state[2].max(1.0),
            height: state[3].max(1.0),
        };
        self.last_update_ms = now_ms;
        self.hits += 1;
    }

    /// The report due at `now_ms` for a confirmed live track, if any.
    fn live_report_due(&self, settings: &TrackerSettings, now_ms: i64) -> Option<ReportReason> {
        let quality = self.best.quality;
        if settings.live_reports {
            match self.reported_quality {
                None if quality >= settings.recognisable_quality => return Some(ReportReason::First),
                Some(reported)
                    if quality >= reported * (1.0 + settings.improvement)
                        && now_ms - self.last_report_ms >= settings.improvement_interval_ms =>
                {
                    return Some(ReportReason::Improved);
                }
                _ => {}
            }
        }
        (settings.update_interval_ms > 0 && now_ms - self.last_report_ms >= settings.update_interval_ms)
            .then_some(ReportReason::Update)
    }

    fn report(&mut self, reason: ReportReason, now_ms: i64) -> TrackReport {
        let parent_track_id = self.parents.iter().max_by_key(|(id, n)| (**n, **id)).map(|(id, _)| *id);
        let report = TrackReport {
            track_id: self.id,
            kind: self.kind,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_update_ms,
            frame_count: self.hits,
            best_shot: self.best.clone(),
            parent_track_id,
            reason,
            sequence: self.reports,
        };
        self.reports += 1;
        self.last_report_ms = now_ms;
        if matches!(reason, ReportReason::First | ReportReason::Improved) {
            self.reported_quality = Some(self.best.quality);
        }
        report
    }
}

/// Tracks the objects of one stream.
#[derive(Debug)]
pub struct Tracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    /// Namespace of the stream's track ids.
    namespace: Uuid,
    /// The track of each detection of the last frame, in the detections' order.
    assigned: Vec<Uuid>,
}

impl Tracker {
    /// An empty tracker for the stream `stream_id`.
    pub fn new(settings: TrackerSettings, stream_id: &str) -> Self {
        let namespace = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("sightline-stream/{stream_id}").as_bytes());
        Self { settings, tracks: Vec::new(), namespace, assigned: Vec::new() }
    }

    /// The track of each detection of the last frame given to [`Tracker::update`], in the
    /// detections' order (a track's id is the one its reports carry once it is confirmed).
    pub fn assigned(&self) -> &[Uuid] {
        &self.assigned
    }

    /// Tracks alive (tentative or confirmed).
    pub fn live_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Feeds the detections of the frame taken at `now_ms`; returns the reports due (ended tracks and
    /// periodic updates).
    pub fn update(&mut self, now_ms: i64, frame: &RgbFrame, detections: &[Detection]) -> Vec<TrackReport> {
        // Greedy association, best IoU first, within each kind. A detection is compared with the
        // track's predicted box and with its last one: the velocity of a young track is mostly the
        // detector's jitter, and carried over a pause (missed detections, or no frame analysed
        // while the machine was busy) it moves the prediction off a person who stood still.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            let predicted = track.predicted(now_ms);
            for (d, detection) in detections.iter().enumerate() {
                if detection.kind == track.kind {
                    let iou = predicted.iou(&detection.bbox).max(track.bbox.iou(&detection.bbox));
                    if iou >= self.settings.iou_threshold {
                        pairs.push((iou, t, d));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut detection_track: Vec<Option<usize>> = vec![None; detections.len()];
        for (_, t, d) in pairs {
            if !track_taken[t] && detection_track[d].is_none() {
                track_taken[t] = true;
                detection_track[d] = Some(t);
            }
        }
        for (d, detection) in detections.iter().enumerate() {
            let quality = quality(detection, frame);
            match detection_track[d] {
                Some(t) => {
                    let track = &mut self.tracks[t];
                    track.update(detection.bbox, now_ms);
                    if quality > track.best.quality {
                        track.best = best_shot(detection, frame, now_ms, quality, self.settings.crop_margin);
                    }
                }
                None => {
                    let name = format!("{:?}/{now_ms}/{d}", detection.kind);
                    let track = Track {
                        id: Uuid::new_v5(&self.namespace, name.as_bytes()),
                        kind: detection.kind,
                        bbox: detection.bbox,
                        velocity: [0.0; 4],
                        last_update_ms: now_ms,
                        first_seen_ms: now_ms,
                        hits: 1,
                        best: best_shot(detection, frame, now_ms, quality, self.settings.crop_margin),
                        parents: HashMap::new(),
                        last_report_ms: now_ms,
                        reports: 0,
                        reported_quality: None,
                    };
                    self.tracks.push(track);
                    detection_track[d] = Some(self.tracks.len() - 1);
                }
            }
        }
        self.assigned = detection_track.iter().filter_map(|t| t.map(|t| self.tracks[t].id)).collect();
        self.link_faces_to_bodies(now_ms);

        let mut reports = Vec::new();
        let settings = &self.settings;
        self.tracks.retain_mut(|track| {
            let confirmed = track.hits >= settings.min_hits;
            if now_ms - track.last_update_ms > settings.lost_timeout_ms {
                if confirmed {
                    reports.push(track.report(ReportReason::Ended, now_ms));
                }
                return false;
            }
            if confirmed && let Some(reason) = track.live_report_due(settings, now_ms) {
                reports.push(track.report(reason, now_ms));
            }
            true
        });
        reports
    }

    /// Ends every track (the stream stopped): reports the confirmed ones.
    pub fn finish(&mut self) -> Vec<TrackReport> {
        let min_hits = self.settings.min_hits;
        self.tracks
            .drain(..)
            .filter(|t| t.hits >= min_hits)
            .map(|mut t| {
                let last_seen = t.last_update_ms;
                t.report(ReportReason::Ended, last_seen)
            })
            .collect()
    }

    /// Counts, for each face seen in this frame, the body seen in this frame whose upper part holds
    /// the face's centre.
    fn link_faces_to_bodies(&mut self, now_ms: i64) {
        let bodies: Vec<(Uuid, BoxF)> = self
            .tracks
            .iter()
            .filter(|t| t.kind == Kind::Body && t.last_update_ms == now_ms)
            .map(|t| (t.id, t.bbox))
            .collect();
        for face in self.tracks.iter_mut().filter(|t| t.kind == Kind::Face && t.last_update_ms == now_ms) {
            let (cx, cy) = (face.bbox.x + face.bbox.width / 2.0, face.bbox.y + face.bbox.height / 2.0);
            let holder = bodies
                .iter()
                .filter(|(_, body)| body.contains(cx, cy) && cy <= body.y + body.height * 0.5)
                .min_by(|a, b| a.1.area().total_cmp(&b.1.area()));
            if let Some((id, _)) = holder {
                *face.parents.entry(*id).or_insert(0) += 1;
            }
        }
    }
}

/// Quality of a detection as a best shot, in [0, 1]: the product of the detector score, a size term
/// (saturating at 112 px for faces, 200 px for bodies), frontalness (faces: how centred the nose is
/// between the eyes) and sharpness (variance of the Laplacian of the grey crop, saturating).
pub fn quality(detection: &Detection, frame: &RgbFrame) -> f32 {
    let full_size = match detection.kind {
        Kind::Face => 112.0,
        Kind::Body | Kind::Unspecified => 200.0,
    };
    let size = (detection.bbox.width.min(detection.bbox.height) / full_size).clamp(0.0, 1.0);
    let frontal = match (detection.kind, detection.landmarks.as_slice()) {
        (Kind::Face, [left_eye, right_eye, nose, ..]) => {
            let eye_span = (right_eye.0 - left_eye.0).abs().max(1.0);
            let offset = (nose.0 - (left_eye.0 + right_eye.0) / 2.0).abs() / eye_span;
            (1.0 - 2.0 * offset).clamp(0.0, 1.0)
        }
        (Kind::Face, _) => 0.5,
        (Kind::Body | Kind::Unspecified, _) => 1.0,
    };
    let sharp = (laplacian_variance(frame, &detection.bbox) / 100.0).clamp(0.0, 1.0);
    detection.score.clamp(0.0, 1.0) * (0.3 + 0.7 * size) * (0.4 + 0.6 * frontal) * (0.5 + 0.5 * sharp)
}

/// Variance of the 4-neighbour Laplacian of the grey image inside `bbox`, at pixel scale: at 62x62
/// pixels spread over the box (the nearest pixel to each grid point), each against its four
/// neighbours one pixel away, whatever the box size.
fn laplacian_variance(frame: &RgbFrame, bbox: &BoxF) -> f32 {
    let (width, height) = (frame.width as usize, frame.height as usize);
    if width < 3 || height < 3 {
        return 0.0;
    }
    let grey = |x: usize, y: usize| {
        let at = (y * width + x) * 3;
        0.299 * f32::from(frame.data[at])
            + 0.587 * f32::from(frame.data[at + 1])
            + 0.114 * f32::from(frame.data[at + 2])
    };
    let steps = 64usize;
    let (dx, dy) = (bbox.width / steps as f32, bbox.height / steps as f32);
    if dx <= 0.0 || dy <= 0.0 {
        return 0.0;
    }
    // Grid points as pixels, kept one pixel inside the frame so every neighbour exists.
    let pixel = |start: f32, step: f32, i: usize, length: usize| {
        ((start + i as f32 * step).round().max(1.0) as usize).min(length - 2)
    };
    let columns: Vec<usize> = (1..steps - 1).map(|i| pixel(bbox.x, dx, i, width)).collect();
    let (mut sum, mut sum_sq, mut n) = (0.0f32, 0.0f32, 0.0f32);
    for j in 1..steps - 1 {
        let y = pixel(bbox.y, dy, j, height);
        for &x in &columns {
            let value = grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * grey(x, y);
            sum += value;
            sum_sq += value * value;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0)
}

fn best_shot(detection: &Detection, frame: &RgbFrame, time_ms: i64, quality: f32, margin: f32) -> BestShot {
    let (crop, crop_origin) = frame.crop_around(&detection.bbox, margin);
    BestShot {
        time_ms,
        bbox: detection.bbox,
        landmarks: detection.landmarks.clone(),
        score: detection.score,
        quality,
        crop,
        crop_origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tracks reported only when they end.
    fn end_only() -> TrackerSettings {
        TrackerSettings { live_reports: false, ..Default::default() }
    }

    fn textured_frame(width: u32, height: u32) -> RgbFrame {
        let data = (0..width * height)
            .flat_map(|i| {
                let v = if (i % width / 4 + i / width / 4).is_multiple_of(2) { 30 } else { 220 };
                [v, v, v]
            })
            .collect();
        RgbFrame { width, height, data }
    }

    fn face(x: f32, y: f32, size: f32, score: f32) -> Detection {
        let landmarks = vec![
            (x + size * 0.3, y + size * 0.4),
            (x + size * 0.7, y + size * 0.4),
            (x + size * 0.5, y + size * 0.6),
            (x + size * 0.35, y + size * 0.8),
            (x + size * 0.65, y + size * 0.8),
        ];
        Detection { kind: Kind::Face, bbox: BoxF { x, y, width: size, height: size }, score, landmarks }
    }

    fn body(x: f32, y: f32) -> Detection {
        Detection { kind: Kind::Body, bbox: BoxF { x, y, width: 120.0, height: 300.0 }, score: 0.9, landmarks: vec![] }
    }

    #[test]
    fn two_crossing_objects_keep_their_tracks_and_end_after_the_timeout() {
        let frame = textured_frame(640, 480);
        let mut tracker = Tracker::new(end_only(), "cam");
        let mut reports = Vec::new();
        // Two faces moving towards each other, 10 px per 100 ms, for 2 s, then gone.
        for step in 0..20 {
            let t = step * 100;
            let dx = step as f32 * 10.0;
            let detections = [face(100.0 + dx, 100.0, 80.0, 0.9), face(500.0 - dx, 120.0, 80.0, 0.9)];
            reports.extend(tracker.update(t, &frame, &detections));
        }
        assert!(reports.is_empty(), "nothing ends while both are visible");
        assert_eq!(tracker.live_tracks(), 2);
        for t in (2_000..4_000).step_by(100) {
            reports.extend(tracker.update(t, &frame, &[]));
        }
        assert_eq!(reports.len(), 2, "both tracks ended");
        assert_eq!(tracker.live_tracks(), 0);
        for report in &reports {
            assert!(report.ended());
            assert_eq!(report.frame_count, 20);
            assert_eq!((report.first_seen_ms, report.last_seen_ms), (0, 1_900));
        }
        assert_ne!(reports[0].track_id, reports[1].track_id);
    }

    #[test]
    fn a_short_gap_does_not_split_a_track_and_noise_is_dropped() {
        let frame = textured_frame(640, 480);
        let mut tracker = Tracker::new(end_only(), "cam");
        let mut reports = Vec::new();
        for step in 0..30 {
            let t = step * 100;
            // Missed for 5 frames (500 ms < 1500 ms timeout) in the middle; moves steadily.
            let mut detections = Vec::new();
            if !(10..15).contains(&step) {
                detections.push(face(50.0 + step as f32 * 8.0, 200.0, 90.0, 0.95));
            }
            // A one-frame false positive.
            if step == 3 {
                detections.push(face(600.0, 10.0, 30.0, 0.7));
            }
            reports.extend(tracker.update(t, &frame, &detections));
        }
        reports.extend(tracker.finish());
        assert_eq!(
            reports.len(),
            1,
            "one track, the noise dropped: {:?}",
            reports.iter().map(|r| r.frame_count).collect::<Vec<_>>()
        );
        assert_eq!(reports[0].frame_count, 25);
    }

    #[test]
    fn a_pause_in_analysis_after_a_jittery_start_does_not_split_a_track() {
        // A face standing still, found with a detector's usual jitter in its first frames (40 ms
        // apart), then no frame analysed for 630 ms (the machine was busy), then found again where
        // it stood. The jitter's velocity, carried over 630 ms, moves the prediction off the face.
        let frame = textured_frame(640, 480);
        let mut tracker = Tracker::new(end_only(), "cam");
        let mut reports = Vec::new();
        let jitter = [(0.0, 0.0, 60.0), (7.0, -4.0, 66.0), (13.0, -7.0, 72.0), (17.0, -9.0, 76.0)];
        for (step, (dx, dy, size)) in jitter.into_iter().enumerate() {
            reports.extend(tracker.update(step as i64 * 40, &frame, &[face(300.0 + dx, 200.0 + dy, size, 0.9)]));
        }
        for step in 0..10 {
            let t = 750 + step * 40;
            reports.extend(tracker.update(t, &frame, &[face(304.0, 196.0, 66.0, 0.9)]));
        }
        reports.extend(tracker.finish());
        assert_eq!(
            reports.iter().map(|r| (r.first_seen_ms, r.frame_count)).collect::<Vec<_>>(),
            vec![(0, 14)],
            "one track over the pause"
        );
    }

    #[test]
    fn the_best_shot_is_the_highest_quality_view() {
        let frame = textured_frame(640, 480);
        let mut tracker = Tracker::new(TrackerSettings::default(), "cam");
        // Approaching, closest and sharpest at 200 ms, then turning away (steps small enough to track).
        for (step, (size, score)) in
            [(80.0, 0.8), (90.0, 0.85), (110.0, 0.99), (100.0, 0.9), (95.0, 0.8)].iter().enumerate()
        {
            tracker.update(step as i64 * 100, &frame, &[face(200.0, 150.0, *size, *score)]);
        }
        let mut reports = tracker.finish();
        assert_eq!(
            reports.len(),
            1,
            "one track: {:?}",
            reports.iter().map(|r| (r.frame_count, r.best_shot.time_ms, r.best_shot.quality)).collect::<Vec<_>>()
        );
        let report = reports.pop().expect("a confirmed track");
        assert_eq!(report.best_shot.time_ms, 200, "quality {}", report.best_shot.quality);
        assert_eq!(report.best_shot.bbox.width, 110.0);
        // The crop has the margin: 110 * 1.5 = 165 px.
        assert_eq!((report.best_shot.crop.width, report.best_shot.crop.height), (166, 166));
    }

    #[test]
    fn quality_prefers_frontal_sharp_large_faces() {
        let sharp = textured_frame(320, 240);
        let flat = RgbFrame { width: 320, height: 240, data: vec![128; 320 * 240 * 3] };
        let frontal = face(100.0, 50.0, 100.0, 0.9);
        let mut turned = frontal.clone();
        turned.landmarks[2].0 += 25.0;
        assert!(quality(&frontal, &sharp) > quality(&turned, &sharp));
        assert!(quality(&frontal, &sharp) > quality(&frontal, &flat));
        assert!(quality(&frontal, &sharp) > quality(&face(100.0, 50.0, 40.0, 0.9), &sharp));
        assert!(quality(&frontal, &sharp) <= 1.0);
    }

    #[test]
    fn faces_are_linked_to_the_body_that_contains_them() {
        let frame = textured_frame(640, 480);
        let mut tracker = Tracker::new(TrackerSettings::default(), "cam");
        for step in 0..5 {
            let dx = step as f32 * 5.0;
            // Face in the upper part of body A; body B elsewhere.
            tracker.update(
                step * 100,
                &frame,
                &[body(100.0 + dx, 100.0), body(400.0, 100.0), face(130.0 + dx, 110.0, 60.0, 0.9)],
            );
        }
        let reports = tracker.finish();
        let face_report = reports.iter().find(|r| r.kind == Kind::Face).expect("face track");
        let body_a = reports.iter().find(|r| r.kind == Kind::Body && r.best_shot.bbox.x < 300.0).expect("body A");
        assert_eq!(face_report.parent_track_id, Some(body_a.track_id));
        assert!(reports.iter().filter(|r| r.kind == Kind::Body).all(|r| r.parent_track_id.is_none()));
    }

    #[test]
    fn long_tracks_report_periodic_updates() {
        let frame = textured_frame(320, 240);
        let settings = TrackerSettings { update_interval_ms: 1_000, ..end_only() };
        let mut tracker = Tracker::new(settings, "cam");
        let mut reports = Vec::new();
        for step in 0..35 {
            reports.extend(tracker.update(step * 100, &frame, &[face(100.0, 50.0, 80.0, 0.9)]));
        }
        reports.extend(tracker.finish());
        let sequences: Vec<(u32, ReportReason)> = reports.iter().map(|r| (r.sequence, r.reason)).collect();
        use ReportReason::{Ended, Update};
        assert_eq!(sequences, vec![(0, Update), (1, Update), (2, Update), (3, Ended)]);
    }

    #[test]
    fn live_tracks_are_reported_first_when_recognisable_then_when_better_then_at_the_end() {
        let frame = textured_frame(640, 480);
        let settings = TrackerSettings::default();
        let mut tracker = Tracker::new(settings.clone(), "cam");
        // Far and small at first (not recognisable), approaching: 30 px growing 6 px per 100 ms to
        // 120 px, then staying.
        let size = |step: i64| (30.0 + 6.0 * step as f32).min(120.0);
        let mut reports = Vec::new();
        for step in 0..40 {
            let t = step * 100;
            for report in tracker.update(t, &frame, &[face(100.0, 50.0, size(step), 0.9)]) {
                reports.push((t, report));
            }
        }
        let assigned_while_seen = tracker.assigned().to_vec();
        for t in (4_000..6_000).step_by(100) {
            reports.extend(tracker.update(t, &frame, &[]).into_iter().map(|r| (t, r)));
        }
        assert!(tracker.assigned().is_empty(), "no detection, no track assigned");
        let reasons: Vec<ReportReason> = reports.iter().map(|(_, r)| r.reason).collect();
        assert_eq!(reasons.first(), Some(&ReportReason::First), "{reasons:?}");
        assert_eq!(reasons.last(), Some(&ReportReason::Ended), "{reasons:?}");
        assert!(reasons.contains(&ReportReason::Improved), "{reasons:?}");
        assert_eq!(reasons.iter().filter(|r| **r == ReportReason::Ended).count(), 1);
        let (first_at, first) = &reports[0];
        assert!(first.best_shot.quality >= settings.recognisable_quality);
        assert!(*first_at <= 500, "first report at {first_at} ms: within 0.5 s of the face appearing");
        // Each report: same track, sequence one higher, best shot no worse; improved ones 15 %
        // better than the last and at least a second apart.
        let track = first.track_id;
        assert_eq!(assigned_while_seen, [track], "the face's box belongs to the track its reports name");
        let mut previous: Option<(i64, f32)> = None;
        for (i, (t, report)) in reports.iter().enumerate() {
            assert_eq!((report.track_id, report.sequence), (track, i as u32));
            if report.reason == ReportReason::Improved {
                let (last_t, last_quality) = previous.expect("an earlier report");
                assert!(t - last_t >= settings.improvement_interval_ms, "{t} after {last_t}");
                assert!(report.best_shot.quality >= last_quality * 1.15);
            }
            previous = Some((*t, report.best_shot.quality));
        }
        assert!(reports.len() <= 6, "rate-limited: {} reports", reports.len());
        // The same frames give the same ids.
        let mut again = Tracker::new(settings, "cam");
        let first_again = (0..10)
            .flat_map(|step| again.update(step * 100, &frame, &[face(100.0, 50.0, size(step), 0.9)]))
            .next()
            .expect("a first report");
        assert_eq!(first_again.track_id, track);
    }

    #[test]
    fn a_track_never_recognisable_is_reported_only_at_its_end() {
        let frame = textured_frame(640, 480);
        let settings = TrackerSettings::default();
        let mut tracker = Tracker::new(settings, "cam");
        let mut reports = Vec::new();
        for step in 0..20 {
            reports.extend(tracker.update(step * 100, &frame, &[face(100.0, 50.0, 12.0, 0.6)]));
        }
        assert!(reports.is_empty(), "a tiny, low-score face is not reported while live");
        reports.extend(tracker.finish());
        assert_eq!(reports.iter().map(|r| (r.sequence, r.reason)).collect::<Vec<_>>(), vec![(0, ReportReason::Ended)]);
    }
}
