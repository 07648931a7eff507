-- The tracks a watchlist match identified, kept by a materialized view on `tracks`: one row per
-- report that has a match (about 5 % of the reports), so the person answers (most sighted persons,
-- identified persons per day, visits) and the events list filtered by list, person or "matched"
-- group a few hundred thousand rows a month instead of every track (see docs/warehouse.md).
-- A track's identification is its latest report with a match (the highest `version` here): a later
-- report without one (a watchlist edited in between) does not take back what was seen when it was
-- made, the way the hourly sets count a track as matched when some report matched.
-- Exactly once: a replayed or re-inserted report is the same row again, and every read groups by the
-- track (`track_key`, cityHash64(stream_id, track_id) as everywhere) keeping the highest version, so
-- copies add nothing; ReplacingMergeTree merges them away in the background.
CREATE TABLE IF NOT EXISTS identified_tracks
(
    first_seen DateTime,
    track_key UInt64,
    site String,
    stream_id String,
    kind Enum8('face' = 1, 'body' = 2),
    first_seen_ms Int64,
    last_seen_ms Int64,
    best_shot_ms Int64,
    event_id UUID,
    best_list_id String,
    best_list_name String,
    best_person_id String,
    best_person_external_id String,
    best_person_display_name String,
    best_similarity Float32,
    matched_list_ids Array(String),
    matched_person_ids Array(String),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (first_seen, track_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS identified_tracks_mv TO identified_tracks AS
SELECT
    first_seen, cityHash64(stream_id, track_id) AS track_key, site, stream_id, kind, first_seen_ms,
    last_seen_ms, best_shot_ms, event_id, best_list_id, best_list_name, best_person_id,
    best_person_external_id, best_person_display_name, best_similarity, matched_list_ids,
    matched_person_ids, version
FROM tracks
WHERE best_person_id != '';

-- The tracks landed before the view existed (a repeat, or rows the view also saw, are copies).
INSERT INTO identified_tracks
SELECT
    first_seen, cityHash64(stream_id, track_id) AS track_key, site, stream_id, kind, first_seen_ms,
    last_seen_ms, best_shot_ms, event_id, best_list_id, best_list_name, best_person_id,
    best_person_external_id, best_person_display_name, best_similarity, matched_list_ids,
    matched_person_ids, version
FROM tracks
WHERE best_person_id != '';
