-- What an erasure (or a retention run) covers, listed once in the warehouse (docs/privacy.md): the
-- tracks named to it (`event_id` all zeros) and the reports of those tracks (their event ids). The
-- erasure's mutations find their rows through this list by the primary key, instead of each part of
-- each table scanning `events` for the tracks again; ids only, no biometrics. Partitions are dropped
-- by retention with the track metadata's period (a receipt in the audit log names the same tracks).
CREATE TABLE IF NOT EXISTS erasure_targets
(
    erasure_id String,
    listed DateTime,
    stream_id String,
    track_id String,
    event_id UUID
)
ENGINE = MergeTree()
PARTITION BY toDate(listed)
ORDER BY (erasure_id, stream_id, track_id, event_id);
