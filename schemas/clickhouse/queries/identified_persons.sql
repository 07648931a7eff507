-- Unique identified persons per day and site: for the identified tracks present in the range (from
-- `identified_tracks`: a track's person is the one its latest report with a match matched, as the
-- most sighted persons count them; one person on several lists, enrolled with the same external id,
-- counts once), the distinct persons and the tracks per day of their first
-- sighting (or of the range's start, for tracks that arrived before it), days starting at midnight
-- in the requested time zone. A track is present while its reports with a match saw it.
-- No FINAL: a track's reports and their replayed copies are grouped by the track, so a replay adds
-- neither a track nor a person.
-- Bound in order: the range's start in ms; the time zone; the range's start in ms, its end in seconds
-- (partition pruning) and in ms; the site filter (twice; '' matches everything).
-- params: 1795132800000; 'Europe/Berlin'; 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'
SELECT
    toInt64(toUnixTimestamp(toStartOfDay(toDateTime(intDiv(greatest(track_first_ms, ?), 1000)), ?))) * 1000 AS day_ms,
    track_site AS site, uniqExact(track_person) AS persons, count() AS tracks
FROM
(
    SELECT
        any(site) AS track_site, any(first_seen_ms) AS track_first_ms,
        argMax(if(best_person_external_id = '', best_person_id, concat('external:', best_person_external_id)), version)
            AS track_person
    FROM identified_tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
    GROUP BY track_key
)
GROUP BY day_ms, site
ORDER BY day_ms, site
