-- Where each event is in `events`: its whole sort key (site, stream, kind, capture time) by id, for
-- point reads (`/v1/events/{id}`). `event_index` (0006) held only the capture time, so a read pinned
-- the event's day and then scanned every id of that day (150,000-280,000 rows at 10M tracks, 30-150
-- ms when cold). With the whole key the read pins `events`' sort-key prefix column by column and
-- reads a granule or two (see docs/warehouse.md).
-- Copies collapse like the events they index (the same id has the same site, stream, kind and
-- capture time); a read takes the values as sets, so copies not yet merged change nothing.
CREATE TABLE IF NOT EXISTS event_keys
(
    event_id UUID,
    site String,
    stream_id String,
    kind Enum8('face' = 1, 'body' = 2),
    capture_time DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(capture_time)
ORDER BY event_id
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_keys_mv TO event_keys AS
SELECT event_id, site, stream_id, kind, capture_time FROM events;

-- The events landed before the view existed (a repeat, or rows the view also saw, collapse).
INSERT INTO event_keys SELECT event_id, site, stream_id, kind, capture_time FROM events;
