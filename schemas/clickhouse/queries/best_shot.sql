-- The best shot of one event: the key of its object in the object store (sealed or in clear), or, for
-- a row landed before 0015 and not yet moved out, its JPEG in clear or sealed, with the track whose
-- stream and id open it. No FINAL: every copy names the same image (0003_best_shot_jpegs.sql), and a
-- copy with a key is preferred to one with bytes.
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT jpeg, sealed, stream_id, track_id, object_key, object_sealed
FROM best_shot_jpegs
WHERE event_id = toUUID(?)
ORDER BY object_key = '' ASC
LIMIT 1
