-- How many of an erasure's mutations (their commands name its id) the server has not finished.
-- Bound: the erasure id.
-- params: 'erasure-1'
SELECT count() FROM system.mutations
WHERE database = currentDatabase() AND is_done = 0 AND position(command, ?) > 0
