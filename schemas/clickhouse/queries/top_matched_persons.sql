-- The most sighted watchlist persons in a time range, optionally of one list. Bound: the time range
-- in seconds and in ms, the list filter (twice; '' matches every list) and how many.
-- params: 1795132800; 1795219201; 1795132800000; 1795219200000; ''; ''; 100
SELECT
    list_id, any(list_name) AS list_name, person_id, any(person_external_id) AS external_id,
    any(person_display_name) AS display_name, count() AS sightings, max(similarity) AS best_similarity,
    max(capture_ms) AS last_capture_ms
FROM matches FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR list_id = ?)
GROUP BY list_id, person_id
ORDER BY sightings DESC, list_id, person_id
LIMIT ?
