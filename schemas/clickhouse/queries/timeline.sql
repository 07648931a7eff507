-- People per time bucket and kind, for the dashboard's timeline: tracks present in the range, each
-- counted once, in the bucket of its first sighting (or of the range's start, if it arrived before),
-- grouped from `tracks` by the track. Buckets of whole hours take the range's whole hours from the
-- hourly counts (hour_counts.sql), so this query then skips the tracks first seen in them (the
-- whole hours' start and end below; equal values skip nothing, for minute buckets): the two parts
-- are disjoint, so each track counts once. No FINAL: a track's reports (and their replayed copies)
-- are grouped by the track, in parallel; a track counts as matched when a watchlist match
-- identified it in some report. Reports never move a track's first sighting, and its last sighting
-- only grows, so dropping reports seen before the range never drops a track that is present in it.
-- Tracks still present at the range's start were first seen no earlier than the earliest hour whose
-- latest sighting (kept in `track_hour_sets`) reaches the start: that hour bounds the scan, so only
-- the days since then are read (not every day before the range).
-- Bound in order: the range's start in ms and the bucket size in ms (twice); the range's start in
-- ms, its end in seconds and in ms; the hour of the range's start in seconds (three times) and the
-- range's start in ms; the whole hours' start and end in seconds (the partition and sort key, so
-- the days of the whole hours are not read); site and stream (each twice).
-- params: 1795132800000; 3600000; 3600000; 1795132800000; 1795219201; 1795219200000; 1795132800; 1795132800; 1795132800; 1795132800000; 1795132800; 1795132800; 'site-a'; 'site-a'; ''; ''
SELECT
    toInt64(intDiv(greatest(track_first_ms, ?), ?) * ?) AS bucket_ms, track_kind AS kind,
    count() AS tracks, sum(track_matched) AS matched
FROM
(
    SELECT
        any(first_seen_ms) AS track_first_ms, any(toString(kind)) AS track_kind,
        toUInt64(max(best_person_id != '')) AS track_matched
    FROM tracks
    PREWHERE last_seen_ms >= ?
    WHERE first_seen < toDateTime(?) AND first_seen_ms < ?
        AND first_seen >= (
            SELECT if(count() = 0, toDateTime(?), least(toDateTime(?), min(hour)))
            FROM
            (
                SELECT hour FROM track_hour_sets
                WHERE hour < toDateTime(?)
                GROUP BY hour
                HAVING maxMerge(last_seen_ms) >= ?
            ))
        AND (first_seen < toDateTime(?) OR first_seen >= toDateTime(?))
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY bucket_ms, kind
ORDER BY bucket_ms, kind
