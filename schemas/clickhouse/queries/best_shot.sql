-- The best-shot JPEG of one event.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT jpeg FROM best_shots FINAL WHERE event_id = toUUID(?) LIMIT 1
