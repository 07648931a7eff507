-- One page of tracks present in a time range, newest first: per track its latest report (the
-- highest `version`, as FINAL would keep, but aggregated in parallel instead of merged), for the
-- events API's default listing. Rows are kept when the latest report's capture time is in the range
-- and the filters hold for the track's latest state. A track's earlier reports have earlier capture
-- times, so dropping reports captured before the range never changes which report is the latest.
-- With a list, person or matched filter only the tracks with a report that has such a match are
-- grouped: a semi-join from `matches` (sorted by list and person; a few % of the events) to the
-- reports' rows in `tracks`, then to their tracks. The filters then hold or not for the latest
-- report, whose capture time is in the range, so matches captured before it are not needed.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning); site, stream
-- and kind (each twice; '' matches everything); whether a match filter is set (1/0), the range's
-- start in ms, whether a match filter is set again, the range's end in seconds, the range in
-- seconds, list and person (each twice); the range's start and end in ms; list and person (each
-- twice) and matched only (1/0); the keyset cursor (capture ms twice, then event id; for the first
-- page 9223372036854775807 twice and ''); the page size.
-- params: 1795132800000; 1795219201; 'site-a'; 'site-a'; ''; ''; 'face'; 'face'; 1; 1795132800000; 1; 1795219201; 1795132800; 1795219201; 'list-1'; 'list-1'; ''; ''; 1795132800000; 1795219200000; ''; ''; ''; ''; 0; 9223372036854775807; 9223372036854775807; ''; 100
SELECT id, capture_ms
FROM
(
    SELECT
        toString(argMax(event_id, version)) AS id, argMax(best_shot_ms, version) AS capture_ms,
        argMax(matched_list_ids, version) AS track_list_ids, argMax(matched_person_ids, version) AS track_person_ids
    FROM tracks
    PREWHERE best_shot_ms >= ?
    WHERE first_seen < toDateTime(?)
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND (? = '' OR toString(kind) = ?)
        AND (? = 0 OR cityHash64(stream_id, track_id) IN (
            SELECT cityHash64(stream_id, track_id) FROM tracks
            PREWHERE best_shot_ms >= ?
            WHERE ? = 1 AND first_seen < toDateTime(?)
                AND event_id IN (
                    SELECT event_id FROM matches
                    WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
                        AND (? = '' OR list_id = ?)
                        AND (? = '' OR person_id = ?))))
    GROUP BY cityHash64(stream_id, track_id)
)
WHERE capture_ms >= ? AND capture_ms < ?
    AND (? = '' OR has(track_list_ids, ?))
    AND (? = '' OR has(track_person_ids, ?))
    AND (? = 0 OR length(track_person_ids) > 0)
    AND (capture_ms < ? OR (capture_ms = ? AND id < ?))
ORDER BY capture_ms DESC, id DESC
LIMIT ?
