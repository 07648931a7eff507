-- hour_set_parts.sql on a cluster: the active parts of `track_hour_sets_local` per day on every
-- replica of every shard, so a day's signature changes when any replica inserts or merges (a read
-- may be answered by any of them). Replicas of a shard hold parts of the same names; the signature
-- is over all of them. Bound: the replicas (cluster_replicas.sql), the database, the first day and
-- the end day (exclusive).
-- params: '127.0.0.1:19131,127.0.0.1:19132,127.0.0.1:19133,127.0.0.1:19134'; 'default'; 20770; 20790
SELECT day, parts
FROM
(
    SELECT
        toUInt16(toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-',
            substring(partition_id, 7, 2)))) AS day,
        arrayStringConcat(arraySort(groupArray(concat(name, '/', toString(rows), '/', toString(bytes_on_disk), '/',
            toString(toUInt32(modification_time))))), ' ') AS parts
    FROM remote(?, system, parts)
    WHERE database = ? AND table = 'track_hour_sets_local' AND active
    GROUP BY partition_id
)
WHERE day >= ? AND day < ?
ORDER BY day
