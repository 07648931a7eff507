-- The watchlist matches of a set of events (a page), best rank first: only those of each event's
-- latest enrichment (the pairs in its `events` row), so an event enriched again shows its new matches
-- as a whole, not merged with the old. Bound: the page's time range in seconds (partition pruning)
-- and the event ids, each twice.
-- params: 1795132800; 1795219201; ['5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11']; 1795132800; 1795219201; ['5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11']
SELECT
    toString(event_id) AS id, list_id, list_name, person_id, person_external_id, person_display_name,
    similarity, rank
FROM matches FINAL
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND has(?, toString(event_id))
    AND (toString(event_id), list_id, person_id) IN (
        SELECT toString(event_id), tupleElement(pair, 1), tupleElement(pair, 2)
        FROM events FINAL
        ARRAY JOIN arrayMap((l, p) -> (l, p), matched_list_ids, matched_person_ids) AS pair
        WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
            AND has(?, toString(event_id)))
ORDER BY id, rank
