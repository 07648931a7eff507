-- Every event a CSV export selects, newest first, in one streamed query (no pages, no re-running of
-- the selection per page), with the columns of events_by_id.sql; the caller reads the matches of
-- each chunk of rows as it streams (event_matches.sql). Per track its latest report, as
-- track_page.sql selects them (the set of the latest reports' ids), or every report
-- (`every_report`); copies collapse by LIMIT 1 BY the id, the latest enrichment first.
-- Bound in order: the range in seconds and in ms; site, stream and kind (each twice; '' matches
-- everything); every report (1/0), then for every report: list and person (each twice), matched
-- only (1/0); then one row per track (1/0): the range's start in ms and end in seconds, site,
-- stream and kind (each twice), the range's start and end in ms, list and person (each twice),
-- matched only; the limit.
-- params: 1795132800; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''; ''; ''; 0; ''; ''; ''; ''; 0; 1; 1795132800000; 1795219201; 'site-a'; 'site-a'; ''; ''; ''; ''; 1795132800000; 1795219200000; ''; ''; ''; ''; 0; 1000000
SELECT
    toString(event_id) AS id, stream_id, site, toString(kind) AS kind, capture_ms, processing_ms, enriched_ms,
    track_id, parent_track_id, bbox_x, bbox_y, bbox_w, bbox_h, detection_score, quality,
    first_seen_ms, last_seen_ms, frame_count, frame_width, frame_height, has_best_shot,
    descriptor_model, descriptor_skip_reason, top_similarity, matched_list_ids, matched_person_ids
FROM events
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
        OR (? = 1 AND event_id IN (
            SELECT latest_id FROM
            (
                SELECT
                    argMax(event_id, version) AS latest_id, argMax(best_shot_ms, version) AS latest_ms,
                    argMax(matched_list_ids, version) AS track_list_ids,
                    argMax(matched_person_ids, version) AS track_person_ids
                FROM tracks
                PREWHERE best_shot_ms >= ?
                WHERE first_seen < toDateTime(?)
                    AND (? = '' OR site = ?)
                    AND (? = '' OR stream_id = ?)
                    AND (? = '' OR toString(kind) = ?)
                GROUP BY cityHash64(stream_id, track_id)
            )
            WHERE latest_ms >= ? AND latest_ms < ?
                AND (? = '' OR has(track_list_ids, ?))
                AND (? = '' OR has(track_person_ids, ?))
                AND (? = 0 OR length(track_person_ids) > 0))))
ORDER BY capture_ms DESC, id DESC, enriched_ms DESC
LIMIT 1 BY id
LIMIT ?
