-- The template key of the event that raised each alert (docs/privacy.md, section 3): the Kafka
-- channel seals the alert's match with it, and an alert whose key is destroyed (its person erased or
-- expired) is no longer produced. NULL for alerts raised from events in clear (older producers).
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS key_id uuid;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS key_day integer;
