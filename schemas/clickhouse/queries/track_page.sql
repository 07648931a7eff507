-- One page of tracks present in a time range, newest first: per track its latest report (the
-- highest `version`, as FINAL would keep, but aggregated in parallel instead of merged), for the
-- events API's default listing. Rows are kept when the latest report's capture time is in the range
-- and the scope holds. A track's earlier reports have earlier capture times, so dropping reports
-- captured before the range never changes which report is the latest. A list, person or "matched
-- only" filter reads `identified_page.sql` instead.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning); site, stream
-- and kind (each twice; '' matches everything); the range's start and end in ms; the keyset cursor
-- (capture ms twice, then event id; for the first page 9223372036854775807 twice and ''); the page
-- size.
-- params: 1795132800000; 1795219201; 'site-a'; 'site-a'; ''; ''; 'face'; 'face'; 1795132800000; 1795219200000; 9223372036854775807; 9223372036854775807; ''; 100
SELECT id, capture_ms
FROM
(
    SELECT toString(argMax(event_id, version)) AS id, argMax(best_shot_ms, version) AS capture_ms
    FROM tracks
    PREWHERE best_shot_ms >= ?
    WHERE first_seen < toDateTime(?)
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND (? = '' OR toString(kind) = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
WHERE capture_ms >= ? AND capture_ms < ?
    AND (capture_ms < ? OR (capture_ms = ? AND id < ?))
ORDER BY capture_ms DESC, id DESC
LIMIT ?
