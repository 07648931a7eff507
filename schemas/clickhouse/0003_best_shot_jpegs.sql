-- Best-shot JPEGs laid out for point reads (see docs/warehouse.md). `best_shots` kept 8192 images
-- (about 80 MB) per index granule, so reading one image decompressed a whole granule in every part
-- of every day, and FINAL merged them: seconds and gigabytes per thumbnail. Here a granule holds 32
-- images, parts are per month (fewer parts to probe for an id), and reads need no FINAL: every copy
-- of an event's image is the same bytes (the event id is derived from the detection that carries the
-- image), so any one row answers.
CREATE TABLE IF NOT EXISTS best_shot_jpegs
(
    event_id UUID,
    capture_time DateTime,
    stream_id String,
    jpeg String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(capture_time)
ORDER BY event_id
SETTINGS index_granularity = 32;

-- The images landed before, copied once; a repeated copy (a migration interrupted here) collapses.
INSERT INTO best_shot_jpegs SELECT event_id, capture_time, stream_id, jpeg FROM best_shots;
