-- Search by face, step 1 (0007_face_search.sql explains the two steps): the faces of a time range
-- and scope, described by the same model as the query, whose sign sketch differs from the query's in
-- at most a bound of bits (the service derives it from the similarity threshold), nearest first, at
-- most a number of them, one row per event id (copies left by replays collapse), with their
-- tracks. The bit count is a SWAR population count (bitCount does not exist on ClickHouse 18.16):
-- pairs, nibbles, then bytes added up by one multiplication into the top byte (at most 192, so no
-- carry is lost).
-- Bound in order: the query sketch's three words (UInt64); the range in seconds (partition pruning)
-- and in ms; site and stream (each twice; '' matches everything); the descriptor model and version
-- (hashed as the view hashes them); the most differing bits; the most candidates.
-- params: 6148914691236517205; 6148914691236517205; 6148914691236517205; 1795132800; 1795219201; 1795132800000; 1795219200000; 'site-a'; 'site-a'; ''; ''; 'mobilefacenet'; 'v1'; 75; 1000
SELECT toString(event_id) AS id, stream_id, track_id, site, capture_ms, has_best_shot
FROM
(
    SELECT
        event_id, stream_id, track_id, site, capture_ms, has_best_shot,
        bitXor(h0, ?) AS x0, bitXor(h1, ?) AS x1, bitXor(h2, ?) AS x2,
        bitAnd(x0, 0x5555555555555555) + bitAnd(bitShiftRight(x0, 1), 0x5555555555555555) AS pairs0,
        bitAnd(x1, 0x5555555555555555) + bitAnd(bitShiftRight(x1, 1), 0x5555555555555555) AS pairs1,
        bitAnd(x2, 0x5555555555555555) + bitAnd(bitShiftRight(x2, 1), 0x5555555555555555) AS pairs2,
        bitAnd(pairs0, 0x3333333333333333) + bitAnd(bitShiftRight(pairs0, 2), 0x3333333333333333) AS nibbles0,
        bitAnd(pairs1, 0x3333333333333333) + bitAnd(bitShiftRight(pairs1, 2), 0x3333333333333333) AS nibbles1,
        bitAnd(pairs2, 0x3333333333333333) + bitAnd(bitShiftRight(pairs2, 2), 0x3333333333333333) AS nibbles2,
        bitAnd(nibbles0 + bitShiftRight(nibbles0, 4), 0x0F0F0F0F0F0F0F0F)
            + bitAnd(nibbles1 + bitShiftRight(nibbles1, 4), 0x0F0F0F0F0F0F0F0F)
            + bitAnd(nibbles2 + bitShiftRight(nibbles2, 4), 0x0F0F0F0F0F0F0F0F) AS bytes,
        bitShiftRight(bytes * 0x0101010101010101, 56) AS distance
    FROM face_sketches
    WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
        AND capture_ms >= ? AND capture_ms < ?
        AND (? = '' OR site = ?)
        AND (? = '' OR stream_id = ?)
        AND descriptor_model_key = cityHash64(?, ?)
        AND distance <= ?
    ORDER BY distance, event_id
    LIMIT 1 BY event_id
    LIMIT ?
)
