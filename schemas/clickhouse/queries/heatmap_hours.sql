-- The arrivals of heatmap.sql in a time zone whose offset is a whole number of hours throughout the
-- range (the service checks): the tracks first seen in the range's whole hours are the hourly sets
-- of `track_hours`, merged per hour, stream and kind and added up (a track's key is in one such set
-- only, see timeline_hours.sql); each UTC hour is one local hour. The tracks first seen in the
-- partial first and last hours are grouped from `tracks`, one row each, as in heatmap.sql.
-- Bound in order: the time zone; the whole hours' first and end in seconds; site, stream and kind
-- (each twice; '' matches everything); the time zone; the range in seconds (partition pruning), then
-- in ms; the whole hours' start and end in ms; site, stream and kind (each twice).
-- params: 'Asia/Tokyo'; 1795132800; 1795219200; 'site-a'; 'site-a'; ''; ''; ''; ''; 'Asia/Tokyo'; 1795132800; 1795219201; 1795132800000; 1795219200000; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''; ''; ''
SELECT day_of_week, hour_of_day AS hour, sum(part_tracks) AS tracks
FROM
(
    SELECT toDayOfWeek(local_hour) AS day_of_week, toHour(local_hour) AS hour_of_day, part_tracks
    FROM
    (
        SELECT toTimeZone(hour, ?) AS local_hour, uniqExactMerge(tracks) AS part_tracks
        FROM track_hours
        WHERE hour >= toDateTime(?) AND hour < toDateTime(?)
            AND (? = '' OR site = ?)
            AND (? = '' OR stream_id = ?)
            AND (? = '' OR toString(kind) = ?)
        GROUP BY hour, stream_id, kind
    )
    UNION ALL
    SELECT toDayOfWeek(track_first) AS day_of_week, toHour(track_first) AS hour_of_day, toUInt64(1) AS part_tracks
    FROM
    (
        SELECT toTimeZone(toDateTime(intDiv(any(first_seen_ms), 1000)), ?) AS track_first
        FROM tracks
        PREWHERE first_seen >= toDateTime(?) AND first_seen < toDateTime(?)
        WHERE first_seen_ms >= ? AND first_seen_ms < ?
            AND (first_seen_ms < ? OR first_seen_ms >= ?)
            AND (? = '' OR site = ?)
            AND (? = '' OR stream_id = ?)
            AND (? = '' OR toString(kind) = ?)
        GROUP BY cityHash64(stream_id, track_id)
    )
)
GROUP BY day_of_week, hour
ORDER BY day_of_week, hour
