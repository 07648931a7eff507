-- Per site and stream, the tracks present in a time range: faces, bodies, tracks identified by a
-- watchlist match (in their latest report), the last sighting. Each track once, without FINAL (see
-- timeline.sql). Bound: the range's end in seconds (partition pruning), its start and end in ms.
-- params: 1795219201; 1795132800000; 1795219200000
SELECT
    track_site AS site, track_stream AS stream_id, sum(track_kind = 'face') AS faces,
    sum(track_kind = 'body') AS bodies, sum(track_matched) AS matched, max(track_last_ms) AS last_capture_ms
FROM
(
    SELECT
        any(site) AS track_site, any(stream_id) AS track_stream, any(toString(kind)) AS track_kind,
        toUInt64(argMax(best_person_id != '', version)) AS track_matched, max(last_seen_ms) AS track_last_ms
    FROM tracks
    WHERE first_seen < toDateTime(?)
        AND last_seen_ms >= ? AND first_seen_ms < ?
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY track_site, track_stream
ORDER BY site, stream_id
