-- Lists the reports of an erasure's tracks (docs/privacy.md): the tracks are in `erasure_targets`
-- under the erasure's id (with a zero event id); this adds a row per report of theirs in `events`,
-- so every later step finds them by id. One scan of `events`' ids; running it again adds what landed
-- since (copies change nothing: the steps read the list as a set). Bound: the erasure id, twice.
-- params: 'erasure-1'; 'erasure-1'
INSERT INTO erasure_targets (erasure_id, listed, stream_id, track_id, event_id)
SELECT DISTINCT toString(?) AS erasure_id, now() AS listed, stream_id, track_id, event_id
FROM events
PREWHERE (stream_id, track_id) IN (SELECT stream_id, track_id FROM erasure_targets WHERE erasure_id = ?)
