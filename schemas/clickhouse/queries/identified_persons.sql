-- Unique identified persons per day and site: for the tracks present in the range that a watchlist
-- match identified (the person of the track's latest report, as the most sighted persons count
-- them), the distinct persons and the tracks per day of their first sighting (or of the range's
-- start, for tracks that arrived before it), days starting at midnight in the requested time zone.
-- No FINAL: a track's reports and their replayed copies are grouped by the track, so a replay adds
-- neither a track nor a person; only tracks with a match in some report are grouped (a semi-join).
-- Bound in order: the range's start in ms; the time zone; the range's start in ms, its end in seconds
-- (partition pruning) and in ms; the site filter (twice; '' matches everything); the range's start in
-- ms, its end in seconds and in ms again.
-- params: 1795132800000; 'Europe/Berlin'; 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'; 1795132800000; 1795219201; 1795219200000
SELECT
    toInt64(toUnixTimestamp(toStartOfDay(toDateTime(intDiv(greatest(track_first_ms, ?), 1000)), ?))) * 1000 AS day_ms,
    track_site AS site, uniqExact(track_person) AS persons, count() AS tracks
FROM
(
    SELECT
        any(site) AS track_site, any(first_seen_ms) AS track_first_ms,
        argMax(best_person_id, version) AS track_person
    FROM tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
        AND cityHash64(stream_id, track_id) IN (
            SELECT cityHash64(stream_id, track_id) FROM tracks
            PREWHERE last_seen_ms >= ?
            WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
                AND best_person_id != '')
    GROUP BY cityHash64(stream_id, track_id)
)
WHERE track_person != ''
GROUP BY day_ms, site
ORDER BY day_ms, site
