//! One stream's clips: the ring of recent video, and the open clip of each reported track.
//!
//! The source's encoded branch calls [`Recorder::push`] with every frame (on a streaming thread);
//! the analysis calls [`Recorder::clip_for`] with every track report (on the source's thread) and
//! gets the clip's key and start for the event. Both hold the recorder's lock only briefly: a frame
//! is appended to the ring and to the open clips, and a finished segment is queued for the store.
//!
//! A face and its body share one clip rather than storing the same video twice: whichever of them is
//! reported first starts it, and the other's first report (a face names its body in
//! `parent_track_id`) names that clip too when it began no later than the other was first seen. The
//! clip lasts until the last of its tracks ended plus the post-roll. Its `boxes.json` holds each
//! track's box path.

use sightline_common::objects::{MediaKind, media_key};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use uuid::Uuid;

use super::fmp4::{self, VideoConfig};
use super::ring::Ring;
use super::upload::{ClipUploads, Piece};
use super::{BOXES, ClipSettings, EncodedFrame, INIT_SEGMENT, media_segment_name};
use crate::frame::BoxF;
use crate::track::{Kind, TrackReport};

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

/// The boxes a clip's `boxes.json` holds: each of its tracks' box in each analysed frame, times on
/// the clip's timeline (ms from its time 0), boxes as fractions of the frame, so a player draws the
/// person's box over the video at any size.
#[derive(Debug, serde::Serialize)]
struct BoxPaths {
    /// By track id: `[t_ms, x, y, width, height]` per analysed frame, oldest first.
    tracks: BTreeMap<Uuid, Vec<[f32; 5]>>,
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
    /// Open clips, by the track that started each.
    open: HashMap<Uuid, Clip>,
    /// Tracks sharing another's open clip: the track that started it.
    riders: HashMap<Uuid, Uuid>,
    /// The body of each face reported with one, while the face's clip is open.
    bodies: HashMap<Uuid, Uuid>,
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
    /// The end of its video (set when its last track ended: the post-roll after the last
    /// sighting): it takes the frames decoded up to then.
    end_pts_ns: Option<i64>,
    /// Its tracks still in view: the one that started it and those sharing it.
    live: HashSet<Uuid>,
    /// The latest end (last sighting plus post-roll) of its tracks that ended.
    latest_end_ns: i64,
    /// Media segments stored so far.
    sequence: u32,
    /// Frames of the segment being filled.
    pending: Vec<EncodedFrame>,
    last_dts_ns: Option<i64>,
    last_duration_ns: i64,
    /// Each of its tracks' boxes so far.
    paths: HashMap<Uuid, Vec<TimedBox>>,
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
            riders: HashMap::new(),
            bodies: HashMap::new(),
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
            let owner = self.riders.get(track).unwrap_or(track);
            let path = match self.open.get_mut(owner) {
                Some(clip) => clip.paths.entry(*track).or_default(),
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

    /// The clip `report`'s event names: the track's open or closed clip, its body's open clip (a
    /// face's first report), or one started now (from the key frame before the pre-roll). `None`
    /// when the stream has no H.264 video or no frames of the track's time are left.
    pub fn clip_for(&mut self, report: &TrackReport) -> Option<ClipRef> {
        let track = report.track_id;
        if let Some(closed) = self.closed.get(&track) {
            return Some(closed.clone());
        }
        let epoch_ms = self.epoch_ms?;
        let to_pts_ns = |capture_ms: i64| (capture_ms - epoch_ms) * 1_000_000;
        if report.kind == Kind::Face
            && let Some(body) = report.parent_track_id
        {
            self.bodies.insert(track, body);
        }
        let owner = match self.riders.get(&track) {
            Some(owner) => *owner,
            None if self.open.contains_key(&track) => track,
            None => match self.shareable(report, to_pts_ns(report.first_seen_ms)) {
                Some(owner) => {
                    self.ride(track, owner);
                    owner
                }
                None => {
                    if self
                        .start(report, to_pts_ns(report.first_seen_ms - self.settings.pre_roll_ms), epoch_ms)
                        .is_none()
                    {
                        self.bodies.remove(&track);
                        return None;
                    }
                    track
                }
            },
        };
        let newest = self.ring.newest_pts_ns();
        let clip = self.open.get_mut(&owner)?;
        let reference = clip.reference.clone();
        if report.ended() {
            clip.live.remove(&track);
            clip.latest_end_ns = clip.latest_end_ns.max(to_pts_ns(report.last_seen_ms + self.settings.post_roll_ms));
            if clip.live.is_empty() {
                clip.end_pts_ns = Some(clip.latest_end_ns);
                if newest.is_some_and(|newest| newest >= clip.latest_end_ns) {
                    self.close(owner);
                }
            }
        }
        Some(reference)
    }

    /// The open clip a track's first report can share, the one started by its partner (a face's
    /// body, a body's face), when it began no later than the track was first seen (`seen_pts_ns`):
    /// every moment the track was seen is in it, with a shorter pre-roll at most.
    fn shareable(&self, report: &TrackReport, seen_pts_ns: i64) -> Option<Uuid> {
        let partner = match report.kind {
            Kind::Face => report.parent_track_id?,
            _ => *self.bodies.iter().find(|(_, body)| **body == report.track_id)?.0,
        };
        let owner = *self.riders.get(&partner).unwrap_or(&partner);
        let clip = self.open.get(&owner)?;
        (clip.start_pts_ns <= seen_pts_ns).then_some(owner)
    }

    /// `track` shares the open clip `owner` started, which now lasts while `track` is in view.
    fn ride(&mut self, track: Uuid, owner: Uuid) {
        let Some(clip) = self.open.get_mut(&owner) else { return };
        clip.live.insert(track);
        clip.end_pts_ns = None;
        clip.paths.insert(track, self.paths.remove(&track).unwrap_or_default());
        self.riders.insert(track, owner);
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
            live: HashSet::from([report.track_id]),
            latest_end_ns: i64::MIN,
            sequence: 0,
            pending: Vec::new(),
            last_dts_ns: None,
            last_duration_ns: DEFAULT_FRAME_NS,
            paths: HashMap::from([(report.track_id, self.paths.remove(&report.track_id).unwrap_or_default())]),
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

    fn close(&mut self, owner: Uuid) {
        let Some(mut clip) = self.open.remove(&owner) else { return };
        let mut pieces = Vec::new();
        clip.cut(None, &self.stream_id, &mut pieces);
        let (w, h) = self.frame_size;
        let start_ms = clip.reference.start_ms;
        let on_clip = |(at, b): &TimedBox| [(at - start_ms) as f32, b.x / w, b.y / h, b.width / w, b.height / h];
        let paths = BoxPaths {
            tracks: clip.paths.iter().map(|(track, path)| (*track, path.iter().map(on_clip).collect())).collect(),
        };
        if let Ok(json) = serde_json::to_vec(&paths) {
            pieces.push(self.piece(&clip.reference.key, BOXES, json));
        }
        // The complete clip's init segment again, now with its length.
        if let (Some(config), Some(last)) = (&self.config, clip.last_dts_ns) {
            let length = last + clip.last_duration_ns - clip.start_dts_ns;
            pieces.push(self.piece(&clip.reference.key, INIT_SEGMENT, fmp4::init_segment(config, Some(length))));
        }
        self.send(pieces);
        self.riders.retain(|_, of| *of != owner);
        self.bodies.retain(|face, _| !clip.paths.contains_key(face) && *face != owner);
        for track in clip.paths.keys().copied().chain([owner]) {
            if self.closed.insert(track, clip.reference.clone()).is_none() {
                self.closed_order.push_back(track);
            }
        }
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
