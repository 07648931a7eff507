-- The part of the per-stream counts that the hourly counts do not hold, per site, stream and kind:
-- tracks first seen in the range's partial first and last hours, and those first seen before the
-- range and still present, grouped from `tracks` by the track; with the same bound on how far back
-- such tracks can start as timeline.sql. The columns of hour_counts.sql (the hour is 0). Disjoint
-- from the whole hours' counts.
-- Bound: the range's start in ms, its end in seconds and in ms; the hour of the range's start in
-- seconds (three times) and the range's start in ms; the whole hours' start and end in seconds.
-- params: 1795132800000; 1795219201; 1795219200000; 1795132800; 1795132800; 1795132800; 1795132800000; 1795132800; 1795132800
SELECT
    toUInt32(0) AS hour_s, track_site AS site, track_stream AS stream_id, track_kind AS kind, count() AS tracks,
    sum(track_matched) AS matched, max(track_last_ms) AS last_seen_ms
FROM
(
    SELECT
        any(site) AS track_site, any(stream_id) AS track_stream, any(toString(kind)) AS track_kind,
        toUInt64(max(best_person_id != '')) AS track_matched, max(last_seen_ms) AS track_last_ms
    FROM tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND first_seen >= (
            SELECT if(count() = 0, toDateTime(?), least(toDateTime(?), min(hour)))
            FROM
            (
                SELECT hour FROM track_hour_sets
                WHERE hour < toDateTime(?)
                GROUP BY hour
                HAVING maxMerge(last_seen_ms) >= ?
            ))
        AND (first_seen < toDateTime(?) OR first_seen >= toDateTime(?))
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY site, stream_id, kind
ORDER BY site, stream_id, kind
