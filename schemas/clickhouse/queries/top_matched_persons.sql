-- The most sighted watchlist persons in a time range, optionally of one list: the identified tracks
-- present in the range (from `identified_tracks`) whose best match, in their latest report with a
-- match, is the person, with the person's latest known names. Without FINAL: the reports with a
-- match and their copies are grouped by the track, keeping the latest (see identified_persons.sql).
-- Bound: the range's start in ms, its end in seconds (partition pruning) and in ms; the list filter
-- (twice; '' matches every list), the person filter (twice; '' matches everyone) and how many.
-- params: 1795132800000; 1795219201; 1795219200000; ''; ''; ''; ''; 100
SELECT
    track_list AS list_id, argMaxIf(track_list_name, track_last_ms, track_list_name != '') AS list_name,
    track_person AS person_id,
    argMaxIf(track_external_id, track_last_ms, track_display_name != '') AS external_id,
    argMaxIf(track_display_name, track_last_ms, track_display_name != '') AS display_name,
    count() AS sightings, max(track_similarity) AS best_similarity, max(track_last_ms) AS last_capture_ms
FROM
(
    SELECT
        argMax(best_list_id, version) AS track_list, argMax(best_list_name, version) AS track_list_name,
        argMax(best_person_id, version) AS track_person,
        argMax(best_person_external_id, version) AS track_external_id,
        argMax(best_person_display_name, version) AS track_display_name,
        argMax(best_similarity, version) AS track_similarity, max(last_seen_ms) AS track_last_ms
    FROM identified_tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
    GROUP BY track_key
)
WHERE (? = '' OR track_list = ?) AND (? = '' OR track_person = ?)
GROUP BY track_list, track_person
ORDER BY sightings DESC, list_id, person_id
LIMIT ?
