-- Per site and stream, the tracks present in a time range: faces, bodies, tracks a watchlist match
-- identified (in some report), the last sighting. From `track_hours` for the tracks first seen in
-- the range's whole hours, from `tracks` (grouped per track, as in timeline.sql) for the rest: the
-- partial first and last hours, and tracks first seen before the range and still present. Each
-- track counts once (see timeline_hours.sql; the hours' sets are merged per hour, then added up, as
-- there). Bound: the first and the end of the whole hours in
-- seconds; the range's start in ms, end in seconds and end in ms; the whole hours' start and end in ms.
-- params: 1795132800; 1795219200; 1795132800000; 1795219201; 1795219200000; 1795132800000; 1795219200000
SELECT
    site, stream_id, sumIf(part_tracks, kind = 'face') AS faces, sumIf(part_tracks, kind = 'body') AS bodies,
    sum(part_matched) AS matched, max(part_last_ms) AS last_capture_ms
FROM
(
    SELECT site, stream_id, toString(kind) AS kind, part_tracks, part_matched, part_last_ms
    FROM
    (
        SELECT
            hour, site, stream_id, kind, uniqExactMerge(tracks) AS part_tracks,
            uniqExactIfMerge(matched) AS part_matched, maxMerge(last_seen_ms) AS part_last_ms
        FROM track_hours
        WHERE hour >= toDateTime(?) AND hour < toDateTime(?)
        GROUP BY hour, site, stream_id, kind
    )
    UNION ALL
    SELECT track_site, track_stream, track_kind, count(), sum(track_matched), max(track_last_ms)
    FROM
    (
        SELECT
            any(site) AS track_site, any(stream_id) AS track_stream, any(toString(kind)) AS track_kind,
            toUInt64(max(best_person_id != '')) AS track_matched, max(last_seen_ms) AS track_last_ms
        FROM tracks
        PREWHERE last_seen_ms >= ?
        WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
            AND (first_seen_ms < ? OR first_seen_ms >= ?)
        GROUP BY cityHash64(stream_id, track_id)
    )
    GROUP BY track_site, track_stream, track_kind
)
GROUP BY site, stream_id
ORDER BY site, stream_id
