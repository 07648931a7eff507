-- The IANA time zone a schedule's cron expression runs in and its report shows times in. Schedules
-- made before it run in UTC, as they did.
ALTER TABLE report_schedules ADD COLUMN IF NOT EXISTS tz text NOT NULL DEFAULT 'UTC';
