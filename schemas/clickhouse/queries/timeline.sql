-- People per time bucket and kind, for the dashboard's timeline: tracks present in the range, each
-- counted once, in the bucket of its first sighting (or of the range's start, if it arrived before).
-- No FINAL: a track's reports (and their replayed copies) are grouped by the track, its match taken
-- from its latest report (the highest version), in parallel. Reports never move a track's first
-- sighting, and its last sighting only grows, so dropping reports seen before the range never drops
-- a track that is present in it.
-- Bound: the range's start in ms and the bucket size in ms (twice); the range's end in seconds
-- (partition pruning), its start and end in ms; site and stream filters (each twice; '' matches
-- everything).
-- params: 1795132800000; 3600000; 3600000; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''
SELECT intDiv(greatest(track_first_ms, ?), ?) * ? AS bucket_ms, track_kind AS kind, count() AS tracks,
    sum(track_matched) AS matched
FROM
(
    SELECT
        any(first_seen_ms) AS track_first_ms, any(toString(kind)) AS track_kind,
        toUInt64(argMax(best_person_id != '', version)) AS track_matched
    FROM tracks
    WHERE first_seen < toDateTime(?)
        AND last_seen_ms >= ? AND first_seen_ms < ?
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
