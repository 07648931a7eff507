SELECT count() AS visible_rows, uniqExact(event_id) AS distinct_events FROM events FINAL
