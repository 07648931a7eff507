SELECT list_id, person_id, any(person_display_name) AS display_name, count() AS sightings, max(similarity) AS best_similarity
FROM matches FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
GROUP BY list_id, person_id
ORDER BY sightings DESC, list_id, person_id
LIMIT 100
