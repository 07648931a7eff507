-- One event by id, with the columns of events_by_id.sql: the latest enrichment's copy, without
-- FINAL. The capture time from `event_index` prunes `events` to the event's day.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'; '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity, matched_list_ids, matched_person_ids
FROM events
WHERE capture_time IN (SELECT capture_time FROM event_index WHERE event_id = toUUID(?))
    AND event_id = toUUID(?)
ORDER BY enriched_ms DESC
LIMIT 1
