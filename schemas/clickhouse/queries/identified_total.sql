-- Unique identified persons and identified tracks in the whole range, at the sites asked for (every
-- site, or the one named): the analytics headline, where a person seen on several days or at several
-- sites counts once. One person on several lists, enrolled with the same external id, counts once;
-- without an external id each enrolment is a person.
-- No FINAL: a track's reports and their replayed copies are grouped by the track.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning) and in ms; the site
-- filter (twice; '' matches everything).
-- params: 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'
SELECT uniqExact(track_person) AS persons, count() AS tracks
FROM
(
    SELECT
        argMax(if(best_person_external_id = '', best_person_id, concat('external:', best_person_external_id)), version)
            AS track_person
    FROM identified_tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
    GROUP BY track_key
)
