//! One stream's clips: the ring of recent video, and the open clip of each reported track.
//!
//! The source's encoded branch calls [`Recorder::push`] with every frame (on a streaming thread);
//! the analysis calls [`Recorder::clip_for`] with every track report (on the source's thread) and
//! gets the clip's key and start for the event. Both hold the recorder's lock only briefly: a frame
//! is appended to the ring and to the open clips, and a finished segment is queued for the store.

use sightline_common::objects::{MediaKind, media_key};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

use super::fmp4::{self, VideoConfig};
use super::ring::Ring;
use super::upload::{ClipUploads, Piece};
use super::{BOXES, ClipSettings, EncodedFrame, INIT_SEGMENT, media_segment_name};
use crate::frame::BoxF;
use crate::track::TrackReport;

/// A track's clip as the events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRef {
    /// Its folder in the object store: `clips/<day>/<stream>/<track>`.
    pub key: String,
    /// Capture time of the clip's time 0, ms since the epoch: a frame captured at `t` is shown at
    /// `t - start_ms` into the clip. (Time 0 is its first frame's decode time; that frame is shown
    /// then or, when the source reorders frames, a frame or two later.)
    pub start_ms: i64,
}

/// How many closed clips are remembered, so a track's later reports still name its clip.
const CLOSED_REMEMBERED: usize = 4_096;

/// A track's box in one analysed frame: capture time (ms since the epoch) and the box, pixels of
/// the analysed frame.
type TimedBox = (i64, BoxF);

/// The boxes a clip's `boxes.json` holds: the track's box in each analysed frame, times on the
/// clip's timeline (ms from its time 0), boxes as fractions of the frame, so a player draws the
/// person's box over the video at any size.
#[derive(Debug, serde::Serialize)]
struct BoxPath {
    /// `[t_ms, x, y, width, height]` per analysed frame, oldest first.
    boxes: Vec<[f32; 5]>,
}

/// Boxes kept of a live track that has no clip yet (its confirmation and the pre-roll's time), and
/// of any clip: at 5 analysed fps, over two minutes.
const MAX_BOXES: usize = 1_000;

/// A track unseen for this long is forgotten by the box paths (its clip, if any, keeps its own).
const FORGET_TRACK_MS: i64 = 10_000;

/// A stream's ring and open clips.
#[derive(Debug)]
pub struct Recorder {
    stream_id: String,
    settings: ClipSettings,
    uploads: ClipUploads,
    clips_started: prometheus_client::metrics::counter::Counter,
    config: Option<VideoConfig>,
    ring: Ring,
    /// Capture time of pts 0 of the current connection, as analysis set it.
    epoch_ms: Option<i64>,
    open: HashMap<Uuid, Clip>,
    closed: HashMap<Uuid, ClipRef>,
    closed_order: VecDeque<Uuid>,
    /// Recent boxes of live tracks without a clip yet.
    paths: HashMap<Uuid, Vec<TimedBox>>,
    /// The analysed frames' size.
    frame_size: (f32, f32),
}

#[derive(Debug)]
struct Clip {
    reference: ClipRef,
    /// Decode time of its first frame: 0 on its timeline.
    start_dts_ns: i64,
    /// Presentation time of its first frame.
    start_pts_ns: i64,
    /// The end of its video (set when its track ended: the post-roll after the last sighting): it
    /// takes the frames decoded up to then.
    end_pts_ns: Option<i64>,
    /// Media segments stored so far.
    sequence: u32,
    /// Frames of the segment being filled.
    pending: Vec<EncodedFrame>,
    last_dts_ns: Option<i64>,
    last_duration_ns: i64,
    /// The track's boxes so far.
    path: Vec<TimedBox>,
}

/// A frame's duration when nothing better is known (25 fps).
const DEFAULT_FRAME_NS: i64 = 40_000_000;

impl Recorder {
    /// A recorder for `stream_id` storing through `uploads`.
    pub fn new(
        stream_id: &str,
        settings: ClipSettings,
        uploads: ClipUploads,
        clips_started: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        Self {
            stream_id: stream_id.to_owned(),
            ring: Ring::new(settings.buffer_ms, settings.max_buffer_bytes),
            settings,
            uploads,
            clips_started,
            config: None,
            epoch_ms: None,
            open: HashMap::new(),
            closed: HashMap::new(),
            closed_order: VecDeque::new(),
            paths: HashMap::new(),
            frame_size: (1.0, 1.0),
        }
    }

    /// The stream's video is (now) of `config`, or not H.264 (`None`: no clips). A change ends the
    /// open clips and empties the ring.
    pub fn set_config(&mut self, config: Option<VideoConfig>) {
        if self.config != config {
            self.close_all();
            self.ring.clear();
            self.config = config;
        }
    }

    /// The capture time of pts 0 on the current connection (analysis knows it).
    pub fn set_epoch(&mut self, epoch_ms: Option<i64>) {
        self.epoch_ms = epoch_ms;
    }

    /// The tracks' boxes in an analysed frame of `width` x `height` captured at `capture_ms`: each
    /// detection's track (`tracks`, in the detections' order) and box.
    pub fn observe(
        &mut self,
        capture_ms: i64,
        width: u32,
        height: u32,
        tracks: &[Uuid],
        boxes: impl IntoIterator<Item = BoxF>,
    ) {
        if self.config.is_none() {
            return;
        }
        self.frame_size = (width.max(1) as f32, height.max(1) as f32);
        for (track, bbox) in tracks.iter().zip(boxes) {
            let path = match self.open.get_mut(track) {
                Some(clip) => &mut clip.path,
                None if self.closed.contains_key(track) => continue,
                None => self.paths.entry(*track).or_default(),
            };
            if path.len() < MAX_BOXES {
                path.push((capture_ms, bbox));
            }
        }
        self.paths.retain(|_, path| path.last().is_some_and(|(at, _)| capture_ms - at < FORGET_TRACK_MS));
    }

    /// A new frame of the stream: kept in the ring and added to every open clip; clips past their
    /// end are closed.
    pub fn push(&mut self, frame: EncodedFrame) {
        if self.config.is_none() {
            return;
        }
        self.ring.push(frame.clone());
        let max_length_ns = self.settings.max_length_ms * 1_000_000;
        let mut ended = Vec::new();
        let mut pieces = Vec::new();
        for (track, clip) in &mut self.open {
            // Decode order: a frame shown before the end may come after one shown past it.
            let past_end = clip.end_pts_ns.is_some_and(|end| frame.dts_ns > end);
            if past_end || frame.pts_ns - clip.start_pts_ns > max_length_ns {
                ended.push(*track);
                continue;
            }
            clip.feed(&frame, &self.settings, &self.stream_id, &mut pieces);
        }
        self.send(pieces);
        for track in ended {
            self.close(track);
        }
    }

    /// The clip `report`'s event names: the track's open or closed clip, or one started now (from
    /// the key frame before the pre-roll). `None` when the stream has no H.264 video or no frames
    /// of the track's time are left.
    pub fn clip_for(&mut self, report: &TrackReport) -> Option<ClipRef> {
        if let Some(closed) = self.closed.get(&report.track_id) {
            return Some(closed.clone());
        }
        let epoch_ms = self.epoch_ms?;
        let to_pts_ns = |capture_ms: i64| (capture_ms - epoch_ms) * 1_000_000;
        if !self.open.contains_key(&report.track_id) {
            self.start(report, to_pts_ns(report.first_seen_ms - self.settings.pre_roll_ms), epoch_ms)?;
        }
        let clip = self.open.get_mut(&report.track_id)?;
        let reference = clip.reference.clone();
        if report.ended() {
            let end = to_pts_ns(report.last_seen_ms + self.settings.post_roll_ms);
            clip.end_pts_ns = Some(end);
            if self.ring.newest_pts_ns().is_some_and(|newest| newest >= end) {
                self.close(report.track_id);
            }
        }
        Some(reference)
    }

    fn start(&mut self, report: &TrackReport, from_pts_ns: i64, epoch_ms: i64) -> Option<()> {
        let config = self.config.as_ref()?;
        let frames: Vec<EncodedFrame> = self.ring.since(from_pts_ns).cloned().collect();
        let first = frames.first()?;
        let key = media_key(MediaKind::Clip, report.first_seen_ms, &self.stream_id, &report.track_id.to_string());
        let mut clip = Clip {
            reference: ClipRef { key, start_ms: epoch_ms + first.dts_ns.div_euclid(1_000_000) },
            start_dts_ns: first.dts_ns,
            start_pts_ns: first.pts_ns,
            end_pts_ns: None,
            sequence: 0,
            pending: Vec::new(),
            last_dts_ns: None,
            last_duration_ns: DEFAULT_FRAME_NS,
            path: self.paths.remove(&report.track_id).unwrap_or_default(),
        };
        let mut pieces = vec![self.piece(&clip.reference.key, INIT_SEGMENT, fmp4::init_segment(config, None))];
        for frame in &frames {
            clip.feed(frame, &self.settings, &self.stream_id, &mut pieces);
        }
        self.send(pieces);
        self.clips_started.inc();
        self.open.insert(report.track_id, clip);
        Some(())
    }

    /// The connection ended: the open clips end with what they have, and the ring starts again.
    pub fn interrupted(&mut self) {
        self.close_all();
        self.ring.clear();
        self.epoch_ms = None;
    }

    /// Ends every open clip with the frames it has.
    pub fn close_all(&mut self) {
        let tracks: Vec<Uuid> = self.open.keys().copied().collect();
        for track in tracks {
            self.close(track);
        }
    }

    fn close(&mut self, track: Uuid) {
        let Some(mut clip) = self.open.remove(&track) else { return };
        let mut pieces = Vec::new();
        clip.cut(None, &self.stream_id, &mut pieces);
        let path = BoxPath {
            boxes: clip
                .path
                .iter()
                .map(|(at, b)| {
                    let (w, h) = self.frame_size;
                    [(at - clip.reference.start_ms) as f32, b.x / w, b.y / h, b.width / w, b.height / h]
                })
                .collect(),
        };
        if let Ok(json) = serde_json::to_vec(&path) {
            pieces.push(self.piece(&clip.reference.key, BOXES, json));
        }
        // The complete clip's init segment again, now with its length.
        if let (Some(config), Some(last)) = (&self.config, clip.last_dts_ns) {
            let length = last + clip.last_duration_ns - clip.start_dts_ns;
            pieces.push(self.piece(&clip.reference.key, INIT_SEGMENT, fmp4::init_segment(config, Some(length))));
        }
        self.send(pieces);
        self.closed.insert(track, clip.reference);
        self.closed_order.push_back(track);
        while self.closed_order.len() > CLOSED_REMEMBERED {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }

    /// The object `name` of the clip in `folder`.
    fn piece(&self, folder: &str, name: &str, bytes: Vec<u8>) -> Piece {
        Piece { key: format!("{folder}/{name}"), bytes, stream_id: self.stream_id.clone() }
    }

    fn send(&self, pieces: Vec<Piece>) {
        for piece in pieces {
            self.uploads.send(piece);
        }
    }
}

impl Clip {
    /// Adds `frame` (once: the ring's frames and the live ones overlap), cutting a segment first
    /// when the pending one is long enough and `frame` starts a new one.
    fn feed(&mut self, frame: &EncodedFrame, settings: &ClipSettings, stream_id: &str, out: &mut Vec<Piece>) {
        if self.last_dts_ns.is_some_and(|last| frame.dts_ns <= last) {
            return;
        }
        if let Some(first) = self.pending.first() {
            let held_ns = frame.dts_ns - first.dts_ns;
            if (frame.keyframe && held_ns >= settings.segment_ms * 1_000_000)
                || held_ns >= settings.max_segment_ms * 1_000_000
            {
                self.cut(Some(frame.dts_ns), stream_id, out);
            }
        }
        self.last_dts_ns = Some(frame.dts_ns);
        self.pending.push(frame.clone());
    }

    /// Turns the pending frames into the next media segment; `next_dts_ns` is the decode time of the
    /// frame after them, when known (it gives the last one's duration).
    fn cut(&mut self, next_dts_ns: Option<i64>, stream_id: &str, out: &mut Vec<Piece>) {
        let Some(first) = self.pending.first() else { return };
        let base_ns = first.dts_ns - self.start_dts_ns;
        let mut durations = Vec::with_capacity(self.pending.len());
        for (i, frame) in self.pending.iter().enumerate() {
            let next = self.pending.get(i + 1).map(|f| f.dts_ns).or(next_dts_ns);
            let duration = next.map_or(self.last_duration_ns, |next| next - frame.dts_ns);
            self.last_duration_ns = duration.max(1);
            durations.push(self.last_duration_ns);
        }
        self.sequence += 1;
        out.push(Piece {
            key: format!("{}/{}", self.reference.key, media_segment_name(self.sequence)),
            bytes: fmp4::media_segment(self.sequence, base_ns, &self.pending, &durations),
            stream_id: stream_id.to_owned(),
        });
        self.pending.clear();
    }
}
