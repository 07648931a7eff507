-- One page of identified tracks present in a time range, newest first, for the events list filtered
-- by list, person or "matched only": per track its latest report with a watchlist match (from
-- `identified_tracks`, a few % of the reports, instead of grouping every track), kept when that
-- report's capture time is in the range and the filters hold for its matches. A track's earlier
-- reports have earlier capture times, so dropping reports captured before the range never changes
-- which one is the latest. With a person, only the tracks with a report naming the person are
-- grouped (a semi-join within the table: 0.1 s instead of 0.45 s over 30 days at 10M); the filter
-- then holds or not on their latest report with a match. No FINAL: copies are grouped by the track,
-- keeping the highest version.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning); site, stream and
-- kind (each twice; '' matches everything); the person, the range's start in ms, its end in seconds
-- and the person again; the range's start and end in ms; list and person (each twice); the keyset
-- cursor (capture ms twice, then event id; for the first page 9223372036854775807 twice and '');
-- the page size.
-- params: 1795132800000; 1795219201; 'site-a'; 'site-a'; ''; ''; 'face'; 'face'; 'person-1'; 1795132800000; 1795219201; 'person-1'; 1795132800000; 1795219200000; 'list-1'; 'list-1'; 'person-1'; 'person-1'; 9223372036854775807; 9223372036854775807; ''; 100
SELECT id, capture_ms
FROM
(
    SELECT
        toString(argMax(event_id, version)) AS id, argMax(best_shot_ms, version) AS capture_ms,
        argMax(matched_list_ids, version) AS track_list_ids, argMax(matched_person_ids, version) AS track_person_ids
    FROM identified_tracks
    PREWHERE best_shot_ms >= ?
    WHERE first_seen < toDateTime(?)
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND (? = '' OR toString(kind) = ?)
        AND (? = '' OR track_key IN (
            SELECT track_key FROM identified_tracks
            PREWHERE best_shot_ms >= ?
            WHERE first_seen < toDateTime(?) AND has(matched_person_ids, ?)))
    GROUP BY track_key
)
WHERE capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR has(track_list_ids, ?))
    AND (? = '' OR has(track_person_ids, ?))
    AND (capture_ms < ? OR (capture_ms = ? AND id < ?))
ORDER BY capture_ms DESC, id DESC
LIMIT ?
