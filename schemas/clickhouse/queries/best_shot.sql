-- The best shot of one event: its JPEG in clear (rows landed before 0014 and events in clear), or
-- sealed with the track whose stream and id open it. No FINAL: every copy holds the same bytes
-- (0003_best_shot_jpegs.sql).
-- params: '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'
SELECT jpeg, sealed, stream_id, track_id FROM best_shot_jpegs WHERE event_id = toUUID(?) LIMIT 1
