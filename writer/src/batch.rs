//! A batch: the rows of consecutive messages plus, per partition, the offset to commit once they
//! landed.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::rows::{BestShotRow, EventRow, EventRows, ImageObject, MatchRow, TrackRow};

/// Rows waiting to be inserted, and the positions they cover.
#[derive(Debug, Default)]
pub struct Batch {
    events: Vec<EventRow>,
    matches: Vec<MatchRow>,
    best_shots: Vec<BestShotRow>,
    images: Vec<ImageObject>,
    tracks: Vec<TrackRow>,
    payload_bytes: usize,
    /// Per partition, the next offset to consume once this batch is landed.
    next_offsets: BTreeMap<i32, i64>,
    /// When the first message of the batch was read.
    started: Option<Instant>,
}

impl Batch {
    /// Adds a landed-to-be event read at `partition`/`offset`, `payload_bytes` long.
    pub fn push(&mut self, rows: EventRows, partition: i32, offset: i64, payload_bytes: usize) {
        self.events.push(rows.event);
        self.matches.extend(rows.matches);
        self.best_shots.extend(rows.best_shot);
        self.images.extend(rows.image);
        self.tracks.push(rows.track);
        self.payload_bytes += payload_bytes;
        self.advance(partition, offset);
    }

    /// Records that the message at `partition`/`offset` is handled (e.g. dead-lettered) without rows.
    pub fn advance(&mut self, partition: i32, offset: i64) {
        self.started.get_or_insert_with(Instant::now);
        let next = self.next_offsets.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Events in the batch.
    pub fn events(&self) -> &[EventRow] {
        &self.events
    }

    /// Match rows in the batch.
    pub fn matches(&self) -> &[MatchRow] {
        &self.matches
    }

    /// Best-shot rows in the batch.
    pub fn best_shots(&self) -> &[BestShotRow] {
        &self.best_shots
    }

    /// The images to store before the rows land.
    pub fn images(&self) -> &[ImageObject] {
        &self.images
    }

    /// Track states in the batch (one per event).
    pub fn tracks(&self) -> &[TrackRow] {
        &self.tracks
    }

    /// Number of events.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch covers no message at all (neither rows nor handled offsets).
    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// Payload bytes of the events.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Per partition, the next offset to commit once landed.
    pub fn next_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.next_offsets
    }

    /// When the batch's first message was read.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_per_partition_and_never_go_back() {
        let mut batch = Batch::default();
        assert!(batch.is_empty());
        batch.advance(0, 10);
        batch.advance(1, 3);
        batch.advance(0, 11);
        batch.advance(0, 5);
        assert_eq!(batch.next_offsets().get(&0), Some(&12));
        assert_eq!(batch.next_offsets().get(&1), Some(&4));
        assert!(!batch.is_empty());
        assert_eq!(batch.event_count(), 0);
    }
}
