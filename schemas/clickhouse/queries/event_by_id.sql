-- One event by id, with the columns of events_by_id.sql: the latest enrichment's copy, without FINAL.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity, matched_list_ids, matched_person_ids
FROM events
WHERE event_id = toUUID(?)
ORDER BY enriched_ms DESC
LIMIT 1
