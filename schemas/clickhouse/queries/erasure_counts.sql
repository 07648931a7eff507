-- What erasing the tracks listed under an erasure id (`erasure_targets`) removes from the warehouse:
-- their reports (kept, emptied of biometrics: times and boxes still count), the reports with a
-- descriptor, the best shots and the watchlist matches, each counted once however many copies are
-- stored. After the erasure's mutations the last three are zero: what a second look finds there
-- landed after the erasure, from a service that still held a key. Bound: the erasure id, four times.
-- params: 'erasure-1'; 'erasure-1'; 'erasure-1'; 'erasure-1'
SELECT
    (SELECT uniqExact(event_id) FROM erasure_targets
        WHERE erasure_id = ? AND event_id != toUUID('00000000-0000-0000-0000-000000000000')) AS events,
    (SELECT uniqExact(event_id) FROM face_descriptors
        WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?)) AS descriptors,
    (SELECT uniqExact(event_id) FROM best_shot_jpegs
        WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?)) AS best_shots,
    (SELECT uniqExact(event_id, list_id, person_id) FROM matches
        WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?)) AS matches
