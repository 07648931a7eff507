-- Erases the biometric copies of a set of tracks (`stream_id/track_id`) in the warehouse
-- (docs/privacy.md): best shots, descriptors (and their search sketches), watchlist matches and
-- identifications are deleted; the reports and tracks stay, emptied of them, so every count and
-- aggregate stays right. Mutations run in the background; running them again changes nothing. The
-- events table is changed last: the others find their rows through it. Bound: the set, seven times.
-- params: ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']; ['cam-01/t1']
ALTER TABLE best_shot_jpegs DELETE
WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)));
ALTER TABLE face_descriptors DELETE
WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)));
ALTER TABLE face_sketches DELETE
WHERE has(?, concat(stream_id, '/', track_id));
ALTER TABLE matches DELETE
WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)));
ALTER TABLE identified_tracks DELETE
WHERE event_id IN (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)));
ALTER TABLE tracks UPDATE has_best_shot = 0, best_list_id = '', best_list_name = '', best_person_id = '',
    best_person_external_id = '', best_person_display_name = '', best_similarity = 0,
    matched_list_ids = emptyArrayString(), matched_person_ids = emptyArrayString()
WHERE has(?, concat(stream_id, '/', track_id));
ALTER TABLE events UPDATE descriptor = emptyArrayFloat32(), descriptor_model = '', descriptor_model_version = '',
    has_best_shot = 0, matched_list_ids = emptyArrayString(), matched_person_ids = emptyArrayString(),
    top_similarity = 0
WHERE has(?, concat(stream_id, '/', track_id))
    AND (notEmpty(descriptor) OR has_best_shot = 1 OR notEmpty(matched_person_ids));
