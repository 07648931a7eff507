-- Per site and stream, the tracks present in a time range: faces, bodies, tracks identified by a
-- watchlist match, the last sighting. Bound: the range's end in seconds (partition pruning), its
-- start and end in ms.
-- params: 1795219201; 1795132800000; 1795219200000
SELECT
    site, stream_id, sum(kind = 'face') AS faces, sum(kind = 'body') AS bodies,
    sum(best_person_id != '') AS matched, max(last_seen_ms) AS last_capture_ms
FROM tracks FINAL
WHERE first_seen < toDateTime(?)
    AND last_seen_ms >= ? AND first_seen_ms < ?
GROUP BY site, stream_id
ORDER BY site, stream_id
