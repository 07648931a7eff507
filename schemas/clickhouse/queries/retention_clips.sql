-- The clip folders of the tracks a retention run lists under its id (`erasure_targets`; their
-- periods ended) that no other track still names: a face inside a body shares the body's clip
-- (docs/media.md), which is kept as long as the longest kept of its tracks. Deleted from the object
-- store before the warehouse's rows of the tracks change (which forgets their clips: erase_tracks.sql
-- empties `clip_key`), so a folder goes with the last track naming it. Bound: the run's id, thrice.
-- params: 'erasure-1'; 'erasure-1'; 'erasure-1'
SELECT DISTINCT clip_key
FROM tracks
WHERE (stream_id, track_id) IN
    (SELECT stream_id, track_id FROM erasure_targets WHERE erasure_id = ? AND event_id = toUUID('00000000-0000-0000-0000-000000000000'))
  AND clip_key != ''
  AND (stream_id, clip_key) NOT IN
    (SELECT stream_id, clip_key
     FROM tracks
     WHERE clip_key != ''
       AND stream_id IN (SELECT stream_id FROM erasure_targets WHERE erasure_id = ?)
       AND (stream_id, track_id) NOT IN
         (SELECT stream_id, track_id FROM erasure_targets WHERE erasure_id = ? AND event_id = toUUID('00000000-0000-0000-0000-000000000000')))
