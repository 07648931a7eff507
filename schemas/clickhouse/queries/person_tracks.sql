-- Per identified person and site: the person's tracks present in the range (from
-- `identified_tracks`: identified by the latest report with a match, as the most sighted persons
-- count them), their summed dwell, and each track's first and last sighting in order of the first,
-- from which the service counts visits (tracks closer than a gap to the ones before are one visit).
-- A track's last sighting is the last its reports with a match saw. Names are the latest a track
-- showed. No FINAL: reports and copies are grouped by the track.
-- Bound in order: the range's start in ms, its end in seconds (partition pruning) and in ms; the
-- site, list and person filters (each twice; '' matches everything).
-- params: 1795132800000; 1795219201; 1795219200000; ''; ''; 'list-1'; 'list-1'; ''; ''
SELECT
    track_list AS list_id, track_person AS person_id, track_site AS site,
    argMaxIf(track_external_id, track_last_ms, track_display_name != '') AS external_id,
    argMaxIf(track_display_name, track_last_ms, track_display_name != '') AS display_name,
    count() AS tracks, sum(track_last_ms - track_first_ms) AS dwell_ms,
    arraySort(groupArray(track_first_ms)) AS firsts_ms,
    arrayMap(pair -> pair.2, arraySort(pair -> pair.1, groupArray((track_first_ms, track_last_ms)))) AS lasts_ms
FROM
(
    SELECT
        any(site) AS track_site, min(first_seen_ms) AS track_first_ms, max(last_seen_ms) AS track_last_ms,
        argMax(best_list_id, version) AS track_list, argMax(best_person_id, version) AS track_person,
        argMax(best_person_external_id, version) AS track_external_id,
        argMax(best_person_display_name, version) AS track_display_name
    FROM identified_tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
    GROUP BY track_key
)
WHERE (? = '' OR track_list = ?)
    AND (? = '' OR track_person = ?)
GROUP BY track_list, track_person, track_site
ORDER BY tracks DESC, list_id, person_id, site
