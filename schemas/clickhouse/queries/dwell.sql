-- Dwell time of the tracks present in the range (how long each was in view: its last sighting minus
-- its first, as its latest report says; reports only extend it): how many, the mean, the 50th, 90th
-- and 99th percentiles, and a histogram with bounds 5 s, 15 s, 30 s, 1 min, 5 min, 15 min and 1 h
-- (eight bins; the service names them). Each track once: its reports and their copies are grouped by
-- the track.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning) and in ms; site,
-- stream and kind filters (each twice; '' matches everything).
-- params: 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'; ''; ''; 'face'; 'face'
SELECT
    count() AS tracks, toInt64(if(count() = 0, 0, avg(track_dwell_ms))) AS mean_ms,
    arrayMap(q -> toInt64(q), quantilesExact(0.5, 0.9, 0.99)(track_dwell_ms)) AS percentiles_ms,
    [countIf(track_dwell_ms < 5000), countIf(track_dwell_ms >= 5000 AND track_dwell_ms < 15000),
        countIf(track_dwell_ms >= 15000 AND track_dwell_ms < 30000),
        countIf(track_dwell_ms >= 30000 AND track_dwell_ms < 60000),
        countIf(track_dwell_ms >= 60000 AND track_dwell_ms < 300000),
        countIf(track_dwell_ms >= 300000 AND track_dwell_ms < 900000),
        countIf(track_dwell_ms >= 900000 AND track_dwell_ms < 3600000),
        countIf(track_dwell_ms >= 3600000)] AS histogram
FROM
(
    SELECT max(dwell_ms) AS track_dwell_ms
    FROM tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND (? = '' OR toString(kind) = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
