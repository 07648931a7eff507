SELECT site, stream_id, kind, count() AS events, sum(length(matched_person_ids) > 0) AS with_matches, min(capture_time) AS first_capture, max(capture_time) AS last_capture
FROM events FINAL
GROUP BY site, stream_id, kind
ORDER BY site, stream_id, kind
