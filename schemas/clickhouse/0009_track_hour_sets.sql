-- The hourly track sets of `track_hours` (0005), partitioned by day instead of month, so that the
-- live inserts of today touch only today's parts: the query service keeps the hourly counts of
-- every other day, each valid for the exact set of that day's active parts (see docs/warehouse.md).
-- The same columns and the same exactly-once argument: a track's key goes into the set of the hour
-- of its first sighting, which never changes, so its other reports, replayed copies and a repeated
-- insert add nothing when the sets are merged.
CREATE TABLE IF NOT EXISTS track_hour_sets
(
    hour DateTime,
    site String,
    stream_id String,
    kind Enum8('face' = 1, 'body' = 2),
    tracks AggregateFunction(uniqExact, UInt64),
    matched AggregateFunction(uniqExactIf, UInt64, UInt8),
    last_seen_ms AggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toDate(hour)
ORDER BY (hour, site, stream_id, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS track_hour_sets_mv TO track_hour_sets AS
SELECT
    toStartOfHour(first_seen) AS hour, site, stream_id, kind,
    uniqExactState(cityHash64(stream_id, track_id)) AS tracks,
    uniqExactIfState(cityHash64(stream_id, track_id), best_person_id != '') AS matched,
    maxState(last_seen_ms) AS last_seen_ms
FROM tracks
GROUP BY hour, site, stream_id, kind;

-- The tracks landed before the view existed (keys the view also saw are absorbed by the sets).
INSERT INTO track_hour_sets
SELECT
    toStartOfHour(first_seen) AS hour, site, stream_id, kind,
    uniqExactState(cityHash64(stream_id, track_id)) AS tracks,
    uniqExactIfState(cityHash64(stream_id, track_id), best_person_id != '') AS matched,
    maxState(last_seen_ms) AS last_seen_ms
FROM tracks
GROUP BY hour, site, stream_id, kind;
