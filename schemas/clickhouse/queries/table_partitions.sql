-- The active partitions of this database's tables, as `ALTER TABLE … DROP PARTITION` names them:
-- retention drops those past their table's period (docs/privacy.md).
SELECT table, partition
FROM system.parts
WHERE database = currentDatabase() AND active
GROUP BY table, partition
ORDER BY table, partition
