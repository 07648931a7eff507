-- Tracks per hour of their first sighting, site, stream and kind, kept by a materialized view on
-- `tracks`, so counts over long ranges (the timeline by hour or day, the per-stream summary) merge
-- a few thousand small rows instead of grouping every track (see docs/warehouse.md).
-- Exactly once: a track is counted by the set of its keys, `uniqExact` of cityHash64(stream_id,
-- track_id), not by its rows. Its other reports, replayed copies and a repeated insert put the same
-- key in the same hour's set again (the first sighting never changes), so they add nothing; merging
-- the sets at read time counts each track once. `matched` is the set of the tracks a watchlist match
-- identified in some report; `last_seen_ms` the latest sighting of the hour's tracks.
CREATE TABLE IF NOT EXISTS track_hours
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
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, site, stream_id, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS track_hours_mv TO track_hours AS
SELECT
    toStartOfHour(first_seen) AS hour, site, stream_id, kind,
    uniqExactState(cityHash64(stream_id, track_id)) AS tracks,
    uniqExactIfState(cityHash64(stream_id, track_id), best_person_id != '') AS matched,
    maxState(last_seen_ms) AS last_seen_ms
FROM tracks
GROUP BY hour, site, stream_id, kind;

-- The tracks landed before the view existed (and, if the writer was running, some after: the same
-- keys again, which the sets absorb; so does a repeat of this statement).
INSERT INTO track_hours
SELECT
    toStartOfHour(first_seen) AS hour, site, stream_id, kind,
    uniqExactState(cityHash64(stream_id, track_id)) AS tracks,
    uniqExactIfState(cityHash64(stream_id, track_id), best_person_id != '') AS matched,
    maxState(last_seen_ms) AS last_seen_ms
FROM tracks
GROUP BY hour, site, stream_id, kind;
