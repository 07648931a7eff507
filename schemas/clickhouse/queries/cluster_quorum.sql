-- How many replicas each shard of a cluster has (the fewest, should they differ): inserts asking that
-- quorum (`insert_quorum`) return once every replica holds the rows, as the lists that mutations on
-- every replica read need. Bound: the cluster.
-- params: 'sightline'
SELECT min(replicas)
FROM
(
    SELECT shard_num, count() AS replicas
    FROM system.clusters
    WHERE cluster = ?
    GROUP BY shard_num
)
