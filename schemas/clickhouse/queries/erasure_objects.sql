-- The object-store keys of the best shots of the tracks listed under an erasure id
-- (`erasure_targets`), deleted from the store before the warehouse's rows that name them. Bound: the
-- erasure id.
-- params: 'erasure-1'
SELECT DISTINCT object_key
FROM best_shot_jpegs
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?) AND object_key != ''
