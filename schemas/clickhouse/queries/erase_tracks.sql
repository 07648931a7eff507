-- Erases the biometric copies of the tracks listed under an erasure id (`erasure_targets`, with
-- their reports) in the warehouse (docs/privacy.md): best shots, descriptors (and their search
-- sketches), watchlist matches and identifications are deleted, and the tracks forget their clips
-- (deleted from the object store first); the reports and tracks stay, emptied of them, so every count
-- and aggregate stays right. Each part of each table looks the list up once
-- by its primary key and a part none of whose rows change is kept as it is (hard links); mutations
-- run in the background, and running them again changes nothing. The erasure id is in each
-- mutation's command, which is how the eraser knows when they are done. Bound: the id, seven times.
-- params: 'erasure-1'; 'erasure-1'; 'erasure-1'; 'erasure-1'; 'erasure-1'; 'erasure-1'; 'erasure-1'
ALTER TABLE best_shot_jpegs DELETE
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?);
ALTER TABLE face_descriptors DELETE
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?);
ALTER TABLE face_sketches DELETE
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?);
ALTER TABLE matches DELETE
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?);
ALTER TABLE identified_tracks DELETE
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?);
ALTER TABLE tracks UPDATE has_best_shot = 0, best_list_id = '', best_list_name = '', best_person_id = '',
    best_person_external_id = '', best_person_display_name = '', best_similarity = 0,
    matched_list_ids = emptyArrayString(), matched_person_ids = emptyArrayString(), clip_key = '', clip_start_ms = 0
WHERE (stream_id, track_id) IN (SELECT stream_id, track_id FROM erasure_targets WHERE erasure_id = ?)
    AND (has_best_shot = 1 OR best_person_id != '' OR notEmpty(matched_person_ids) OR clip_key != '');
ALTER TABLE events UPDATE descriptor = emptyArrayFloat32(), descriptor_model = '', descriptor_model_version = '',
    has_best_shot = 0, matched_list_ids = emptyArrayString(), matched_person_ids = emptyArrayString(),
    top_similarity = 0
WHERE event_id IN (SELECT event_id FROM erasure_targets WHERE erasure_id = ?)
    AND (notEmpty(descriptor) OR has_best_shot = 1 OR notEmpty(matched_person_ids));
