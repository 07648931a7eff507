-- One event by id, with the columns of events_by_id.sql: the latest enrichment's copy, without
-- FINAL. Bound: the id, then its site, stream, kind and capture time in seconds (event_key.sql),
-- which pin `events`' whole sort-key prefix, so the read touches a granule per part instead of
-- every id of the event's day (12 ms instead of 60-90 ms at 10M tracks); PREWHERE reads the other
-- columns of the matching row only. The kind is named `kind_name` here: an alias `kind` would
-- stand for the String in the WHERE clause, and ClickHouse would not use the sort key for it.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'; 'site-a'; 'cam-01'; 'face'; 1795168800
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind_name, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity, matched_list_ids, matched_person_ids
FROM events
PREWHERE event_id = toUUID(?)
WHERE site = ? AND stream_id = ? AND kind = ? AND capture_time = toDateTime(?)
ORDER BY enriched_ms DESC
LIMIT 1
