-- A picture of each enrolled face (the face and some of its surroundings, at most 256 pixels a side,
-- JPEG), cut from the enrolment photo, so operators see whom a watchlist holds. NULL for faces
-- enrolled before pictures were kept. Deleted with the descriptor, the person or the list.
ALTER TABLE person_descriptors ADD COLUMN IF NOT EXISTS picture_jpeg bytea;
