-- The capture times by id, replaced by `event_keys` (0011). A separate step, so that an interrupted
-- 0011 can be repeated while the old table still answers.
DROP TABLE IF EXISTS event_index_mv;
DROP TABLE IF EXISTS event_index;
