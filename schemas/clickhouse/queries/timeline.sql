-- People per time bucket and kind, for the dashboard's timeline: tracks present in the range, each
-- counted once, in the bucket of its first sighting (or of the range's start, if it arrived before).
-- Used for minute buckets (timeline_hours.sql serves whole hours). No FINAL: a track's reports
-- (and their replayed copies) are grouped by the track, in parallel; a track counts as matched when
-- a watchlist match identified it in some report. Reports never move a track's first
-- sighting, and its last sighting only grows, so dropping reports seen before the range never drops
-- a track that is present in it.
-- Bound: the range's start in ms and the bucket size in ms (twice); the range's start in ms, its
-- end in seconds (partition pruning) and in ms; site and stream filters (each twice; '' matches
-- everything).
-- params: 1795132800000; 3600000; 3600000; 1795132800000; 1795219201; 1795219200000; 'site-a'; 'site-a'; ''; ''
SELECT intDiv(greatest(track_first_ms, ?), ?) * ? AS bucket_ms, track_kind AS kind, count() AS tracks,
    sum(track_matched) AS matched
FROM
(
    SELECT
        any(first_seen_ms) AS track_first_ms, any(toString(kind)) AS track_kind,
        toUInt64(max(best_person_id != '')) AS track_matched
    FROM tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
