-- One page of reports (every report of every track, `every_report=true`), newest first. Copies of
-- a report (replays) are one row: LIMIT 1 BY the id after ordering; no FINAL.
-- Bound in order: the range in seconds (partition pruning) and in ms (exact); site, stream, kind,
-- list and person (each twice; '' matches everything); matched only (1/0); the keyset cursor
-- (capture ms twice, then event id; for the first page 9223372036854775807 twice and ''); the page
-- size.
-- params: 1795132800; 1795219201; 1795132800000; 1795219200000; ''; ''; 'cam-01'; 'cam-01'; 'face'; 'face'; 'list-1'; 'list-1'; ''; ''; 1; 9223372036854775807; 9223372036854775807; ''; 100
SELECT toString(event_id) AS id, capture_ms
FROM events
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR site = ?)
    AND (? = '' OR stream_id = ?)
    AND (? = '' OR toString(kind) = ?)
    AND (? = '' OR has(matched_list_ids, ?))
    AND (? = '' OR has(matched_person_ids, ?))
    AND (? = 0 OR length(matched_person_ids) > 0)
    AND (capture_ms < ? OR (capture_ms = ? AND toString(event_id) < ?))
ORDER BY capture_ms DESC, id DESC
LIMIT 1 BY id
LIMIT ?
