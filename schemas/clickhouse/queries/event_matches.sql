-- The watchlist matches of a set of events (a page), best rank first, each (event, list, person)
-- once whatever the copies, without FINAL. The caller keeps those of each event's latest
-- enrichment (the pairs in its events row). Bound: the page's time range in seconds (partition
-- pruning) and the event ids.
-- params: 1795132800; 1795219201; ['5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11']
SELECT
    toString(event_id) AS id, list_id, list_name, person_id, person_external_id, person_display_name,
    similarity, rank
FROM matches
WHERE capture_time >= toDateTime(?) AND capture_time < toDateTime(?)
    AND event_id IN (SELECT toUUID(arrayJoin(?)))
ORDER BY id, rank
LIMIT 1 BY id, list_id, person_id
