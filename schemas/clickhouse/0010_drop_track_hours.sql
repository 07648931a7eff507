-- The monthly hourly sets, replaced by `track_hour_sets` (0009). A separate step, so that an
-- interrupted 0009 can be repeated while the old table still answers.
DROP TABLE IF EXISTS track_hours_mv;
DROP TABLE IF EXISTS track_hours;
