-- Search by face, step 2: the exact similarity of each candidate face to the query descriptor
-- (descriptors are unit vectors, so a dot product; 18.16 has no distance functions, so
-- arraySum(arrayMap)), one row per event id. `face_descriptors` is sorted by event id in granules
-- of 32, so this reads one small granule per candidate (per monthly part).
-- Bound in order: the query descriptor (an array of floats); the candidates' event ids.
-- params: [0.6, 0.8]; ['0b8e6d1c-7d1e-4c52-9f0e-2b1c3d4e5f60', '5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11']
SELECT toString(event_id) AS id, arraySum(arrayMap((a, b) -> a * b, descriptor, ?)) AS similarity
FROM face_descriptors
PREWHERE event_id IN (SELECT toUUID(arrayJoin(?)))
LIMIT 1 BY event_id
