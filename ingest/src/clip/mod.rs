//! Clips: a short video of every confirmed track, from a few seconds before it was first seen to a
//! few seconds after it ended, as fragmented MP4 that browsers play (docs/media.md).
//!
//! No frame is encoded again. The source pipeline hands the stream's own H.264 access units to the
//! stream's [`recorder::Recorder`] as well as decoding them for analysis ([`crate::source`]); the
//! recorder keeps the last seconds in a [`ring::Ring`] (bounded in time and bytes) and, when a track
//! is first reported, starts its clip there, from the key frame before the pre-roll. From then on
//! every frame goes into the clip too, cut into media segments ([`fmp4`]) that are stored as soon as
//! they are complete, through the instance's [`upload::ClipUploads`]. So an alert's clip can be
//! played a few seconds after the alert, while the track still lasts. The clip ends at the
//! post-roll after the track's end, or at its capped length.
//!
//! A clip is a folder of the object store, `clips/<day>/<stream>/<track>/` (its key on the wire, in
//! `DetectionEvent.clip_key`): `init.mp4`, then `00001.m4s`, `00002.m4s`… Concatenated in order they
//! are one playable file, which is how the query service serves a clip. When the clip is complete,
//! `boxes.json` holds the track's box in every analysed frame, so a player draws it over the video.

pub mod fmp4;
pub mod recorder;
pub mod ring;
pub mod upload;

pub use sightline_common::objects::{
    CLIP_BOXES as BOXES, CLIP_INIT_SEGMENT as INIT_SEGMENT, clip_segment_name as media_segment_name,
};

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One encoded video frame (an H.264 access unit, length-prefixed), as the source delivered it.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Presentation time, ns on the connection's timeline (the same as the decoded frames').
    pub pts_ns: i64,
    /// Decode time, ns (the presentation time when the source gives none).
    pub dts_ns: i64,
    /// A key frame: decoding can start here.
    pub keyframe: bool,
    /// The access unit, shared by the ring and every clip that holds it.
    pub data: Arc<[u8]>,
}

/// `[clips]`: whether and how clips are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipSettings {
    /// Write clips of H.264 sources (RTSP and files); off: no clip, no ring buffer.
    pub enabled: bool,
    /// Video kept before a track's first sighting, ms.
    pub pre_roll_ms: i64,
    /// Video kept after a track's last sighting, ms.
    pub post_roll_ms: i64,
    /// Longest clip, ms: a longer track's clip stops there.
    pub max_length_ms: i64,
    /// How much of each stream's recent video is kept for pre-rolls, ms. It must cover the pre-roll
    /// plus the time from a track's first sighting to its first report (confirmation and a
    /// recognisable best shot: usually under 2 s).
    pub buffer_ms: i64,
    /// Most memory one stream's ring may hold, bytes (a 4 Mbit/s camera needs 5 MB for 10 s).
    pub max_buffer_bytes: usize,
    /// Most clip bytes an instance holds while the object store cannot take them (then the newest
    /// pieces are dropped and counted).
    pub max_queued_bytes: usize,
    /// A media segment is cut at the first key frame after this long, ms (so a clip can be played
    /// this soon after its frames were seen)…
    pub segment_ms: i64,
    /// …or at any frame after this long, for sources with rare key frames, ms.
    pub max_segment_ms: i64,
}

impl Default for ClipSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            pre_roll_ms: 3_000,
            post_roll_ms: 3_000,
            max_length_ms: 120_000,
            buffer_ms: 12_000,
            max_buffer_bytes: 16 << 20,
            max_queued_bytes: 256 << 20,
            segment_ms: 1_000,
            max_segment_ms: 4_000,
        }
    }
}

/// What a stream's recorder needs: the settings and the instance's upload queue.
#[derive(Debug, Clone)]
pub struct Clips {
    /// `[clips]`.
    pub settings: ClipSettings,
    /// Where finished pieces go.
    pub uploads: upload::ClipUploads,
}

impl Clips {
    /// A new recorder for `stream_id`, counting its clips in `metrics`.
    pub fn recorder(&self, stream_id: &str, metrics: &crate::metrics::StreamMetrics) -> crate::source::SharedRecorder {
        let recorder =
            recorder::Recorder::new(stream_id, self.settings.clone(), self.uploads.clone(), metrics.clips.clone());
        Arc::new(std::sync::Mutex::new(recorder))
    }
}
