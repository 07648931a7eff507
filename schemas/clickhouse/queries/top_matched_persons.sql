-- The most sighted watchlist persons in a time range, optionally of one list: the tracks present in
-- the range whose best match is the person, with the person's latest known names. Bound: the range's end in seconds (partition pruning),
-- its start and end in ms, the list filter (twice; '' matches every list) and how many.
-- params: 1795219201; 1795132800000; 1795219200000; ''; ''; 100
SELECT
    best_list_id AS list_id, argMaxIf(best_list_name, last_seen_ms, best_list_name != '') AS list_name,
    best_person_id AS person_id,
    argMaxIf(best_person_external_id, last_seen_ms, best_person_display_name != '') AS external_id,
    argMaxIf(best_person_display_name, last_seen_ms, best_person_display_name != '') AS display_name,
    count() AS sightings, max(best_similarity) AS best_similarity, max(last_seen_ms) AS last_capture_ms
FROM tracks FINAL
WHERE first_seen < toDateTime(?)
    AND last_seen_ms >= ? AND first_seen_ms < ?
    AND best_person_id != ''
    AND (? = '' OR best_list_id = ?)
GROUP BY best_list_id, best_person_id
ORDER BY sightings DESC, list_id, person_id
LIMIT ?
