-- `best_shots` was copied into `best_shot_jpegs` by 0003 and nothing reads or writes it since; a
-- separate migration, so that repeating an interrupted 0003 still finds its source.
DROP TABLE IF EXISTS best_shots;
