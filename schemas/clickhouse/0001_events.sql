-- Enriched events, one row per event, as analysts see them.
-- ReplacingMergeTree: a replayed or retried event (same event_id, hence the same site, stream,
-- kind and capture time) collapses into one row; reads use FINAL (see docs/writer.md).
-- Partitioned by day of capture; sorted for the dashboard's filters (site, stream, kind, time).
CREATE TABLE IF NOT EXISTS events
(
    event_id UUID,
    detection_event_id UUID,
    schema_version UInt16,
    stream_id String,
    site String,
    capture_time DateTime,
    capture_ms Int64,
    processing_ms Int64,
    enriched_ms Int64,
    track_id String,
    parent_track_id String,
    kind Enum8('face' = 1, 'body' = 2),
    bbox_x Float32,
    bbox_y Float32,
    bbox_w Float32,
    bbox_h Float32,
    landmarks_x Array(Float32),
    landmarks_y Array(Float32),
    detection_score Float32,
    quality Float32,
    first_seen_ms Int64,
    last_seen_ms Int64,
    frame_count UInt32,
    frame_width UInt32,
    frame_height UInt32,
    track_ended UInt8,
    has_best_shot UInt8,
    descriptor Array(Float32),
    descriptor_model String,
    descriptor_model_version String,
    descriptor_skip_reason String,
    matched_list_ids Array(String),
    matched_person_ids Array(String),
    top_similarity Float32,
    source_partition Int32,
    source_offset Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toDate(capture_time)
ORDER BY (site, stream_id, kind, capture_time, event_id);

-- Watchlist match results, one row per (event, list, person), for filters by list and person.
CREATE TABLE IF NOT EXISTS matches
(
    event_id UUID,
    capture_time DateTime,
    capture_ms Int64,
    stream_id String,
    site String,
    list_id String,
    list_name String,
    person_id String,
    person_external_id String,
    person_display_name String,
    similarity Float32,
    rank UInt16,
    threshold Float32
)
ENGINE = ReplacingMergeTree()
PARTITION BY toDate(capture_time)
ORDER BY (list_id, person_id, capture_time, event_id, rank);

-- Best-shot JPEGs, kept apart so scans of events never read image bytes.
CREATE TABLE IF NOT EXISTS best_shots
(
    event_id UUID,
    capture_time DateTime,
    stream_id String,
    jpeg String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toDate(capture_time)
ORDER BY event_id;
