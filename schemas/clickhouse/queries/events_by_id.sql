-- Events by id (a page), with the columns the API lists: one row per id, that of the latest
-- enrichment when an event was enriched again (its copies are otherwise identical), without FINAL.
-- Bound: the ids' capture-time range in seconds (partition pruning) and the ids (a set: `IN`
-- over UUIDs is some 30 times faster than `has` over their strings, 0.15 s against 4.5 s for a page
-- spanning 30 days at 10M). The filter is a PREWHERE: the other columns are read only where an id is
-- (one person's page spread over 10 days: 0.28 s instead of 0.63 s at 10M).
-- params: 1795132800; 1795219201; ['5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11']
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity, matched_list_ids, matched_person_ids
FROM events
PREWHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND event_id IN (SELECT toUUID(arrayJoin(?)))
ORDER BY enriched_ms DESC
LIMIT 1 BY id
