-- The shard a replica belongs to, with all of that shard's replicas, for naming a shard that does not
-- answer. Bound: the cluster, the replicas named by the error (`host:port`).
-- params: 'sightline'; ['127.0.0.1:19133']
SELECT shard_num, arrayStringConcat(groupArray(concat(host_address, ':', toString(port))), ', ') AS replicas
FROM system.clusters
WHERE cluster = ?
GROUP BY shard_num
HAVING hasAny(groupArray(concat(host_address, ':', toString(port))), ?)
ORDER BY shard_num
