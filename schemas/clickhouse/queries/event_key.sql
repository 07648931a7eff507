-- Where one event is in `events`: its site, stream, kind and capture time in seconds (from
-- `event_keys`, sorted by id), which event_by_id.sql binds to pin `events`' sort key. Copies of an
-- event have the same key. No row: the event has not landed.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT site, stream_id, toString(kind) AS kind, toUInt32(capture_time) AS capture_s
FROM event_keys
WHERE event_id = toUUID(?)
LIMIT 1
