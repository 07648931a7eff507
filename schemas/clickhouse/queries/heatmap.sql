-- Arrivals by hour of the week: the tracks first seen in the range, counted by the day of the week
-- (1 = Monday) and the hour of their first sighting in the requested time zone. Each track once:
-- its reports and their copies are grouped by the track; reports never move a first sighting.
-- Bound in order: the time zone; the range in seconds (partition pruning), then in ms; site,
-- stream and kind filters (each twice; '' matches everything).
-- params: 'Asia/Tokyo'; 1795132800; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''; ''; ''
SELECT toDayOfWeek(track_first) AS day_of_week, toHour(track_first) AS hour, count() AS tracks
FROM
(
    SELECT toTimeZone(toDateTime(intDiv(any(first_seen_ms), 1000)), ?) AS track_first
    FROM tracks
    PREWHERE first_seen >= toDateTime(?) AND first_seen < toDateTime(?)
    WHERE first_seen_ms >= ? AND first_seen_ms < ?
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND (? = '' OR toString(kind) = ?)
    GROUP BY cityHash64(stream_id, track_id)
)
GROUP BY day_of_week, hour
ORDER BY day_of_week, hour
