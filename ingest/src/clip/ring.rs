//! The last seconds of a stream's encoded video, for clips' pre-rolls: bounded in time and bytes,
//! always dropping whole groups of pictures from the front so that it starts at a key frame.

use std::collections::VecDeque;

use super::EncodedFrame;

/// A stream's recent encoded frames.
#[derive(Debug)]
pub struct Ring {
    frames: VecDeque<EncodedFrame>,
    bytes: usize,
    max_ns: i64,
    max_bytes: usize,
}

impl Ring {
    /// An empty ring keeping at most `max_ms` of video and about `max_bytes`.
    pub fn new(max_ms: i64, max_bytes: usize) -> Self {
        Self { frames: VecDeque::new(), bytes: 0, max_ns: max_ms.max(0) * 1_000_000, max_bytes }
    }

    /// Adds the newest frame, then drops the oldest groups of pictures while the ring holds more
    /// than its time or bytes. A frame before the first key frame is never kept (no clip can start
    /// there), and a single group larger than the byte limit is dropped whole.
    pub fn push(&mut self, frame: EncodedFrame) {
        if self.frames.is_empty() && !frame.keyframe {
            return;
        }
        self.bytes += frame.data.len();
        self.frames.push_back(frame);
        while self.too_full() {
            let next_key = self.frames.iter().skip(1).position(|f| f.keyframe).map(|i| i + 1);
            let drop = next_key.unwrap_or(self.frames.len());
            for frame in self.frames.drain(..drop) {
                self.bytes -= frame.data.len();
            }
        }
    }

    fn too_full(&self) -> bool {
        let (Some(first), Some(last)) = (self.frames.front(), self.frames.back()) else { return false };
        self.bytes > self.max_bytes || last.pts_ns - first.pts_ns > self.max_ns
    }

    /// The frames from the last key frame at or before `pts_ns` (or from the ring's start when it
    /// begins later), in decode order.
    pub fn since(&self, pts_ns: i64) -> impl Iterator<Item = &EncodedFrame> {
        let start = self.frames.iter().rposition(|f| f.keyframe && f.pts_ns <= pts_ns).unwrap_or(0);
        self.frames.iter().skip(start)
    }

    /// Presentation time of the newest frame.
    pub fn newest_pts_ns(&self) -> Option<i64> {
        self.frames.back().map(|f| f.pts_ns)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets everything (a new connection starts a new timeline).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Frames every 100 ms from `from_ms`, a key frame every `gop`, of `len` bytes.
    fn frames(from_ms: i64, count: i64, gop: i64, len: usize) -> Vec<EncodedFrame> {
        (0..count)
            .map(|i| EncodedFrame {
                pts_ns: (from_ms + i * 100) * 1_000_000,
                dts_ns: (from_ms + i * 100) * 1_000_000,
                keyframe: i % gop == 0,
                data: Arc::from(vec![0u8; len]),
            })
            .collect()
    }

    #[test]
    fn the_ring_keeps_whole_groups_within_its_time() {
        let mut ring = Ring::new(2_000, usize::MAX);
        for frame in frames(0, 50, 10, 10) {
            ring.push(frame);
        }
        // 5 s of frames, key frames each second: the last 2 s plus the group reaching into them.
        let kept: Vec<i64> = ring.since(i64::MIN).map(|f| f.pts_ns / 1_000_000).collect();
        assert_eq!(kept.first(), Some(&3_000));
        assert_eq!(kept.last(), Some(&4_900));
        assert_eq!(ring.bytes(), kept.len() * 10);
        // A clip starting at 4.5 s starts at the key frame at 4 s.
        assert_eq!(ring.since(4_500 * 1_000_000).next().map(|f| f.pts_ns), Some(4_000 * 1_000_000));
        // Before the ring's start: from its start.
        assert_eq!(ring.since(0).next().map(|f| f.pts_ns), Some(3_000 * 1_000_000));
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_and_starts_at_a_key_frame() {
        let mut ring = Ring::new(60_000, 1_000);
        let mut stream = frames(0, 5, 10, 10); // delta frames' tail before a key frame: not kept
        stream.drain(..1);
        for frame in stream.into_iter().chain(frames(1_000, 40, 10, 50)) {
            ring.push(frame);
        }
        assert!(ring.bytes() <= 1_000, "{} bytes", ring.bytes());
        let first = ring.since(i64::MIN).next().expect("frames");
        assert!(first.keyframe);
        assert_eq!(first.pts_ns, 3_000 * 1_000_000);
        ring.clear();
        assert_eq!((ring.bytes(), ring.newest_pts_ns()), (0, None));
    }
}
