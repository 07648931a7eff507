-- The clip folders of the tracks listed under an erasure id (`erasure_targets`; docs/media.md),
-- whose pieces are deleted from the object store before the warehouse's rows of the tracks change.
-- Bound: the erasure id.
-- params: 'erasure-1'
SELECT DISTINCT clip_key
FROM tracks
WHERE (stream_id, track_id) IN
    (SELECT stream_id, track_id FROM erasure_targets WHERE erasure_id = ? AND event_id = toUUID('00000000-0000-0000-0000-000000000000'))
  AND clip_key != ''
