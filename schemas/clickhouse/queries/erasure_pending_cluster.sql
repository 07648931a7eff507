-- erasure_pending.sql on a cluster: the erasure's mutations not finished on any replica of any shard
-- (each replica runs its own). Bound: the replicas (cluster_replicas.sql), the database, the erasure id.
-- params: '127.0.0.1:19131,127.0.0.1:19132,127.0.0.1:19133,127.0.0.1:19134'; 'default'; 'erasure-1'
SELECT count() FROM remote(?, system, mutations)
WHERE database = ? AND is_done = 0 AND position(command, ?) > 0
