-- Events per time bucket and kind, for the dashboard's timeline. Bound: the bucket size in ms
-- (twice), the time range in seconds and in ms, site and stream filters (each twice; '' matches
-- everything).
-- params: 3600000; 3600000; 1795132800; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''
SELECT
    intDiv(capture_ms, ?) * ? AS bucket_ms, toString(kind) AS kind, count() AS events,
    sum(length(matched_person_ids) > 0) AS matched
FROM events FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR site = ?)
    AND (? = '' OR stream_id = ?)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
