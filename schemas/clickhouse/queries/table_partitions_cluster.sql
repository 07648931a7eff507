-- table_partitions.sql on a cluster: the active partitions of the shard-local tables on every replica
-- of every shard (a shard may hold days another does not), each named by its table without the
-- `_local` suffix, as the maintenance statements name tables. Bound: the replicas
-- (cluster_replicas.sql), the database.
-- params: '127.0.0.1:19131,127.0.0.1:19132,127.0.0.1:19133,127.0.0.1:19134'; 'default'
SELECT replaceRegexpOne(table, '_local$', '') AS shared_table, partition
FROM remote(?, system, parts)
WHERE database = ? AND active AND endsWith(table, '_local')
GROUP BY shared_table, partition
ORDER BY shared_table, partition
