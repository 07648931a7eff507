-- Every replica of the cluster's shards, as `remote()` takes them (`host:port,host:port`), for the
-- reads that must see each replica's own state (the parts of the hourly sets). Bound: the cluster.
-- params: 'sightline'
SELECT arrayStringConcat(groupArray(concat(host_address, ':', toString(port))), ',')
FROM system.clusters
WHERE cluster = ?
