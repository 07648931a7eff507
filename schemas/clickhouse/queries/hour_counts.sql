-- Tracks per hour of their first sighting, site, stream and kind, from the hourly sets of
-- `track_hour_sets`: the distinct tracks, those a watchlist match identified in some report, and
-- the latest sighting. A track's key is in one hour's set only (its first sighting never changes),
-- so these counts add up exactly across hours, streams and kinds, whatever the duplicates (see
-- docs/warehouse.md). The query service caches them per day.
-- Bound: the first hour and the end (exclusive), in seconds.
-- params: 1795132800; 1795219200
SELECT
    toUInt32(hour) AS hour_s, site, stream_id, toString(kind) AS kind, uniqExactMerge(tracks) AS tracks,
    uniqExactIfMerge(matched) AS matched, maxMerge(last_seen_ms) AS last_seen_ms
FROM track_hour_sets
WHERE hour >= toDateTime(?) AND hour < toDateTime(?)
GROUP BY hour, site, stream_id, kind
ORDER BY hour, site, stream_id, kind
