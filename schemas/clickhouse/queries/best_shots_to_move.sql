-- Best shots landed before the object store (migration 0015) that still hold their bytes, after a
-- given event id, in event id order: the writer moves them into the object store a page at a time.
-- Bound: the last event id of the page before (the nil UUID first), the page's size.
-- params: '00000000-0000-0000-0000-000000000000'; 256
SELECT event_id, capture_time, stream_id, jpeg, track_id, sealed, object_key, object_sealed
FROM best_shot_jpegs
WHERE object_key = '' AND (jpeg != '' OR sealed != '') AND event_id > toUUID(?)
ORDER BY event_id
LIMIT ?
