-- The tracks a watchlist person was matched on, and the body tracks those faces were part of, as
-- `stream_id/track_id` (the erasure of a person, docs/privacy.md): what an erasure by person covers
-- in the warehouse besides the tracks named to it. Bound: the person id, twice.
-- params: 'person-1'; 'person-1'
SELECT DISTINCT concat(stream_id, '/', track_id) AS track
FROM events
WHERE event_id IN (SELECT event_id FROM matches WHERE person_id = ?)
UNION ALL
SELECT DISTINCT concat(stream_id, '/', parent_track_id) AS track
FROM events
WHERE parent_track_id != '' AND event_id IN (SELECT event_id FROM matches WHERE person_id = ?)
