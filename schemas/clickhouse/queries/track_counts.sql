-- Exactly-once view of the tracks: rows as analysts see them, distinct tracks, and reports landed.
SELECT count() AS visible_rows, uniqExact(track_id) AS distinct_tracks, sum(report_count) AS reports FROM tracks FINAL
