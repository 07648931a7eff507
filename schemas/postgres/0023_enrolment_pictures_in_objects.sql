-- Enrolment pictures in the object store (#27; docs/warehouse.md, "Images"): each face's picture is
-- stored under `pictures/<list id>/<person id>/<face id>` before the face's row is written, and
-- deleted with the person or the list (by prefix) and by an erasure. The row keeps the key; faces
-- enrolled before keep their bytes in `picture_jpeg`.
ALTER TABLE person_descriptors ADD COLUMN IF NOT EXISTS picture_key text;
