//! What enrich remembers of the face tracks it is enriching, so that a track reported several times
//! (first, improved, updates, ended) is described once per best shot, not once per report, and every
//! report carries the best match the track has had so far.
//!
//! A report's best shot is identified by the track and the best shot's capture time (the contract:
//! the same `capture_time_ms` on two reports of a track means the same best shot). Each entry keeps
//! the descriptor of the latest best shot and the descriptor that matched best; the latter is
//! searched again on every report, so the track's best match always reflects the watchlists as they
//! are now (a person removed from a list stops being the track's best match).
//!
//! The memory is bounded (least recently used entries go first) and lost on restart or when a
//! partition moves to another instance: then the next report is described again, which costs time,
//! never correctness.

use std::collections::{BTreeMap, HashMap};

/// A track: stream id and track id.
pub type TrackKey = (String, String);

/// What is remembered of one track.
#[derive(Debug, Clone, PartialEq)]
struct Remembered {
    /// Capture time of the best shot `descriptor` was computed from.
    shot_time_ms: i64,
    /// Descriptor of that best shot.
    descriptor: Vec<f32>,
    /// The descriptor whose best match was the most similar, with that similarity.
    best: Option<(Vec<f32>, f32)>,
    /// Position in the use order.
    used: u64,
}

/// Bounded memory of face tracks.
#[derive(Debug)]
pub struct TrackMemory {
    entries: HashMap<TrackKey, Remembered>,
    /// Use order: oldest first.
    order: BTreeMap<u64, TrackKey>,
    next_use: u64,
    capacity: usize,
}

impl TrackMemory {
    /// Remembers at most `capacity` tracks.
    pub fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), order: BTreeMap::new(), next_use: 0, capacity: capacity.max(1) }
    }

    /// Tracks remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no track is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The descriptor of `track`'s best shot taken at `shot_time_ms`, if it was described.
    pub fn descriptor(&self, track: &TrackKey, shot_time_ms: i64) -> Option<&[f32]> {
        self.entries.get(track).filter(|e| e.shot_time_ms == shot_time_ms).map(|e| e.descriptor.as_slice())
    }

    /// The descriptor of `track` that matched best so far, when it is not `current`.
    pub fn best_descriptor(&self, track: &TrackKey, current: &[f32]) -> Option<&[f32]> {
        let (best, _) = self.entries.get(track)?.best.as_ref()?;
        (best.as_slice() != current).then_some(best.as_slice())
    }

    /// Records that `track`'s best shot at `shot_time_ms` has `descriptor`, whose best match had
    /// `similarity` (None: no match).
    pub fn remember(&mut self, track: &TrackKey, shot_time_ms: i64, descriptor: &[f32], similarity: Option<f32>) {
        let used = self.next_use;
        self.next_use += 1;
        let entry = match self.entries.get_mut(track) {
            Some(entry) => {
                self.order.remove(&entry.used);
                if entry.shot_time_ms != shot_time_ms {
                    entry.shot_time_ms = shot_time_ms;
                    entry.descriptor = descriptor.to_vec();
                }
                entry.used = used;
                entry
            }
            None => self.entries.entry(track.clone()).or_insert(Remembered {
                shot_time_ms,
                descriptor: descriptor.to_vec(),
                best: None,
                used,
            }),
        };
        if let Some(similarity) = similarity
            && entry.best.as_ref().is_none_or(|(_, best)| similarity > *best)
        {
            entry.best = Some((descriptor.to_vec(), similarity));
        }
        self.order.insert(used, track.clone());
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets `track` (it ended).
    pub fn forget(&mut self, track: &TrackKey) {
        if let Some(entry) = self.entries.remove(track) {
            self.order.remove(&entry.used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(track: &str) -> TrackKey {
        ("cam".to_owned(), track.to_owned())
    }

    #[test]
    fn a_best_shot_is_described_once_and_the_best_match_is_kept() {
        let mut memory = TrackMemory::new(10);
        let track = key("t1");
        assert_eq!(memory.descriptor(&track, 100), None);
        memory.remember(&track, 100, &[1.0, 0.0], Some(0.8));
        assert_eq!(memory.descriptor(&track, 100), Some(&[1.0, 0.0][..]), "same shot: no second extraction");
        assert_eq!(memory.descriptor(&track, 200), None, "a new best shot is described");
        // A later shot that matches worse: the earlier descriptor stays the one to search again.
        memory.remember(&track, 200, &[0.0, 1.0], Some(0.6));
        assert_eq!(memory.descriptor(&track, 200), Some(&[0.0, 1.0][..]));
        assert_eq!(memory.best_descriptor(&track, &[0.0, 1.0]), Some(&[1.0, 0.0][..]));
        // A better one replaces it.
        memory.remember(&track, 300, &[0.6, 0.8], Some(0.9));
        assert_eq!(memory.best_descriptor(&track, &[0.6, 0.8]), None, "the current shot is the best");
        memory.forget(&track);
        assert!(memory.is_empty());
    }

    #[test]
    fn the_least_recently_used_tracks_are_dropped_first() {
        let mut memory = TrackMemory::new(2);
        memory.remember(&key("a"), 1, &[1.0], None);
        memory.remember(&key("b"), 1, &[1.0], None);
        memory.remember(&key("a"), 2, &[0.5], None); // a used again
        memory.remember(&key("c"), 1, &[1.0], None); // b goes
        assert_eq!(memory.len(), 2);
        assert!(memory.descriptor(&key("b"), 1).is_none());
        assert!(memory.descriptor(&key("a"), 2).is_some() && memory.descriptor(&key("c"), 1).is_some());
    }
}
