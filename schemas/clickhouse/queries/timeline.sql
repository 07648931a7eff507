-- People per time bucket and kind, for the dashboard's timeline: tracks present in the range, each
-- counted once, in the bucket of its first sighting (or of the range's start, if it arrived before).
-- Bound: the range's start in ms and the bucket size in ms (twice); the range's end in seconds
-- (partition pruning), its start and end in ms; site and stream filters (each twice; '' matches
-- everything).
-- params: 1795132800000; 3600000; 3600000; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''
SELECT
    intDiv(greatest(first_seen_ms, ?), ?) * ? AS bucket_ms, toString(kind) AS kind, count() AS tracks,
    sum(best_person_id != '') AS matched
FROM tracks FINAL
WHERE first_seen < toDateTime(?)
    AND last_seen_ms >= ? AND first_seen_ms < ?
    AND (? = '' OR site = ?)
    AND (? = '' OR stream_id = ?)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
