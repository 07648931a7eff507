-- What erasing a set of tracks (`stream_id/track_id`) removes from the warehouse: their reports
-- (kept, emptied of biometrics: times and boxes still count), the reports with a descriptor, the
-- best shots and the watchlist matches, each counted once however many copies are stored.
-- Bound: the set of tracks, four times.
-- params: ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']
SELECT
    (SELECT uniqExact(event_id) FROM events WHERE has(?, concat(stream_id, '/', track_id))) AS events,
    (SELECT uniqExactIf(event_id, notEmpty(descriptor)) FROM events
        WHERE has(?, concat(stream_id, '/', track_id))) AS descriptors,
    (SELECT uniqExact(event_id) FROM best_shot_jpegs
        WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)))) AS best_shots,
    (SELECT uniqExact(event_id, list_id, person_id) FROM matches
        WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)))) AS matches
