-- One row per track: its latest state, next to the per-report history in `events`.
-- For every report of a track the writer lands the track's state as of that report, and
-- ReplacingMergeTree(version) keeps per track the row with the highest version: the report sequence,
-- then the enrichment time. Replays, crashes and reports landing out of order therefore converge to
-- the track's latest report, and a re-enriched report replaces its matches as a whole. Every
-- partition- and sort-key column is the same in all reports of a track (its first sighting never
-- changes), so its rows collapse. Read with FINAL. Counts of people count rows of this table.
CREATE TABLE IF NOT EXISTS tracks
(
    track_id String,
    stream_id String,
    site String,
    kind Enum8('face' = 1, 'body' = 2),
    first_seen DateTime,
    first_seen_ms Int64,
    last_seen_ms Int64,
    dwell_ms Int64,
    frame_count UInt32,
    report_count UInt32,
    ended UInt8,
    parent_track_id String,
    event_id UUID,
    best_shot_ms Int64,
    has_best_shot UInt8,
    quality Float32,
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
PARTITION BY toDate(first_seen)
ORDER BY (site, stream_id, kind, first_seen, track_id);

-- The tracks of events landed before this table existed: each event is its track's state (the latest
-- enrichment wins), its best match its most similar match. `sightline-writer rebuild` replays the
-- topic instead, for the full state.
INSERT INTO tracks
SELECT
    track_id, stream_id, site, kind, toDateTime(intDiv(first_seen_ms, 1000)), first_seen_ms, last_seen_ms,
    greatest(last_seen_ms - first_seen_ms, 0), frame_count, toUInt32(1), track_ended, parent_track_id,
    event_id, capture_ms, has_best_shot, quality,
    best_list_id, best_list_name, best_person_id, best_person_external_id, best_person_display_name,
    top_similarity, matched_list_ids, matched_person_ids, toUInt64(greatest(enriched_ms, 0))
FROM
(
    SELECT
        event_id, track_id, stream_id, site, kind, first_seen_ms, last_seen_ms, frame_count, track_ended,
        parent_track_id, capture_ms, has_best_shot, quality, top_similarity, matched_list_ids,
        matched_person_ids, enriched_ms
    FROM events FINAL
) AS landed
ANY LEFT JOIN
(
    SELECT
        event_id, argMax(list_id, similarity) AS best_list_id, argMax(list_name, similarity) AS best_list_name,
        argMax(person_id, similarity) AS best_person_id,
        argMax(person_external_id, similarity) AS best_person_external_id,
        argMax(person_display_name, similarity) AS best_person_display_name
    FROM matches FINAL
    GROUP BY event_id
) AS best USING event_id;
