-- Unique identified persons per day across the sites asked for (every site, or the one named): as
-- identified_persons.sql, but a person seen at two sites on one day counts once that day (the
-- analytics chart of distinct persons per day). One person on several lists, enrolled with the same
-- external id, counts once; without an external id each enrolment is a person.
-- No FINAL: a track's reports and their replayed copies are grouped by the track.
-- Bound in order: the range's start in ms; the time zone; the range's start in ms, its end in seconds
-- (partition pruning) and in ms; the site filter (twice; '' matches everything).
-- params: 1795132800000; 'Europe/Berlin'; 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'
SELECT
    toInt64(toUnixTimestamp(toStartOfDay(toDateTime(intDiv(greatest(track_first_ms, ?), 1000)), ?))) * 1000 AS day_ms,
    uniqExact(track_person) AS persons, count() AS tracks
FROM
(
    SELECT
        any(first_seen_ms) AS track_first_ms,
        argMax(if(best_person_external_id = '', best_person_id, concat('external:', best_person_external_id)), version)
            AS track_person
    FROM identified_tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
    GROUP BY track_key
)
GROUP BY day_ms
ORDER BY day_ms
