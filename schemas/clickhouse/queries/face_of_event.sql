-- The face descriptor of one event and the model that made it, for a search by an event's face
-- (`POST /v1/search/faces` with `event`). `face_descriptors` is sorted by id, so this reads one granule per
-- monthly part; copies of an event carry the same descriptor.
-- Bound: the event id.
-- params: '0b8e6d1c-7d1e-4c52-9f0e-2b1c3d4e5f60'
SELECT descriptor, descriptor_model, descriptor_model_version
FROM face_descriptors
WHERE event_id = toUUID(?)
LIMIT 1
