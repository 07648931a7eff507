SELECT
    (SELECT count() FROM events FINAL) AS events,
    (SELECT sum(cityHash64(toString(event_id), stream_id, site, capture_ms, track_id, toString(kind), arraySum(descriptor), source_offset)) FROM events FINAL) AS events_hash,
    (SELECT count() FROM matches FINAL) AS matches,
    (SELECT sum(cityHash64(toString(event_id), list_id, person_id, similarity, rank)) FROM matches FINAL) AS matches_hash,
    (SELECT count() FROM best_shot_jpegs FINAL) AS best_shots,
    (SELECT sum(cityHash64(toString(event_id), jpeg, sealed, object_key, object_sealed)) FROM best_shot_jpegs FINAL) AS best_shots_hash,
    (SELECT count() FROM tracks FINAL) AS tracks,
    (SELECT sum(cityHash64(track_id, stream_id, toString(event_id), report_count, best_person_id, first_seen_ms, last_seen_ms)) FROM tracks FINAL) AS tracks_hash
