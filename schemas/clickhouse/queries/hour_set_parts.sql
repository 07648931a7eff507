-- The active parts of `track_hour_sets` per day (its partitions), for the query service's cache of
-- hourly counts: a day's counts stay valid while its parts are the same. A part's name (partition,
-- block numbers, merge level) changes with every insert and merge; its rows, size and time are
-- added so that a table emptied and filled again (whose block numbers can start over) does not
-- repeat a signature. Days as numbers since 1970-01-01.
-- Bound: the first day and the end day (exclusive).
-- params: 20770; 20790
SELECT day, parts
FROM
(
    SELECT
        toUInt16(toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-',
            substring(partition_id, 7, 2)))) AS day,
        arrayStringConcat(arraySort(groupArray(concat(name, '/', toString(rows), '/', toString(bytes_on_disk), '/',
            toString(toUInt32(modification_time))))), ' ') AS parts
    FROM system.parts
    WHERE database = currentDatabase() AND table = 'track_hour_sets' AND active
    GROUP BY partition_id
)
WHERE day >= ? AND day < ?
ORDER BY day
