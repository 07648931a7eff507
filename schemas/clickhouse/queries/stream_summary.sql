-- Per site and stream in a time range: faces, bodies, events with a watchlist match, last event.
-- params: 1795132800; 1795219201; 1795132800000; 1795219200000
SELECT
    site, stream_id, sum(kind = 'face') AS faces, sum(kind = 'body') AS bodies,
    sum(length(matched_person_ids) > 0) AS matched, max(capture_ms) AS last_capture_ms
FROM events FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND capture_ms >= ? AND capture_ms < ?
GROUP BY site, stream_id
ORDER BY site, stream_id
