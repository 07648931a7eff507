-- One page of events, newest first, for the query API, the dashboard and the exports: one row per
-- track by default (its latest report, which carries the track's state), or every report.
-- Bound in order: the time range in seconds (partition pruning) and in ms (exact); site, stream and
-- kind filters (each twice; '' matches everything); then for every report (1 = every report): the
-- list and person filters (each twice) and matched only (1/0) against the report's matches; then
-- for one row per track (0 = per track): the range's end in seconds and the same filters against
-- the track's matches (its latest report's and its best match); the keyset cursor (capture ms, then
-- event id, of the last row of the previous page; 9223372036854775807 and '' for the first page) and
-- the page size.
-- params: 1795132800; 1795219201; 1795132800000; 1795219200000; ''; ''; 'cam-01'; 'cam-01'; 'face'; 'face'; 0; 'list-1'; 'list-1'; ''; ''; 1; 0; 1795219201; 'list-1'; 'list-1'; ''; ''; 1; 9223372036854775807; 9223372036854775807; ''; 100
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity
FROM events FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR site = ?)
    AND (? = '' OR stream_id = ?)
    AND (? = '' OR toString(kind) = ?)
    AND (
        (? = 1
            AND (? = '' OR has(matched_list_ids, ?))
            AND (? = '' OR has(matched_person_ids, ?))
            AND (? = 0 OR length(matched_person_ids) > 0))
        OR (? = 0 AND event_id IN (
            SELECT event_id FROM tracks FINAL
            WHERE first_seen < toDateTime(?)
                AND (? = '' OR has(matched_list_ids, ?))
                AND (? = '' OR has(matched_person_ids, ?))
                AND (? = 0 OR length(matched_person_ids) > 0))))
    AND (capture_ms < ? OR (capture_ms = ? AND toString(event_id) < ?))
ORDER BY capture_ms DESC, id DESC
LIMIT ?
