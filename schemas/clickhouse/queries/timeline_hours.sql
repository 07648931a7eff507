-- The timeline of timeline.sql for buckets of whole hours (hour, day), from `track_hours`: the
-- tracks first seen in the whole hours of the range are the merged sets of those hours; the rest
-- (first seen in the range's partial first and last hours, or before the range and still present)
-- are grouped from `tracks` as in timeline.sql. The two parts are disjoint, so each track counts
-- once. A track counts as matched when a watchlist match identified it in some report.
-- The hours' sets are merged per hour, stream and kind, then their sizes are added up: a track's
-- key is in one such set only (its first sighting, stream and kind never change), so the sum is
-- exact, and merging many small sets is several times faster than one large set per bucket.
-- Bound: the range's start in ms and the bucket size in ms (twice); the first and the end of the
-- whole hours in seconds; site and stream (each twice; '' matches everything); then the range's
-- start in ms and the bucket size (twice); the range's start in ms, end in seconds and end in ms; the
-- whole hours' start and end in ms; site and stream (each twice).
-- params: 1795132800000; 3600000; 3600000; 1795132800; 1795219200; 'site-a'; 'site-a'; ''; ''; 1795132800000; 3600000; 3600000; 1795132800000; 1795219201; 1795219200000; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''
SELECT bucket_ms, kind, sum(part_tracks) AS tracks, sum(part_matched) AS matched
FROM
(
    SELECT
        toInt64(intDiv(greatest(toInt64(toUInt32(hour)) * 1000, ?), ?) * ?) AS bucket_ms, toString(kind) AS kind,
        part_tracks, part_matched
    FROM
    (
        SELECT
            hour, kind, uniqExactMerge(tracks) AS part_tracks, uniqExactIfMerge(matched) AS part_matched
        FROM track_hours
        WHERE hour >= toDateTime(?) AND hour < toDateTime(?)
            AND (? = '' OR site = ?)
            AND (? = '' OR stream_id = ?)
        GROUP BY hour, stream_id, kind
    )
    UNION ALL
    SELECT
        toInt64(intDiv(greatest(track_first_ms, ?), ?) * ?) AS bucket_ms, track_kind AS kind,
        count() AS part_tracks, sum(track_matched) AS part_matched
    FROM
    (
        SELECT
            any(first_seen_ms) AS track_first_ms, any(toString(kind)) AS track_kind,
            toUInt64(max(best_person_id != '')) AS track_matched
        FROM tracks
        PREWHERE last_seen_ms >= ?
        WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
            AND (first_seen_ms < ? OR first_seen_ms >= ?)
            AND (? = '' OR site = ?)
            AND (? = '' OR stream_id = ?)
        GROUP BY cityHash64(stream_id, track_id)
    )
    GROUP BY bucket_ms, kind
)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
