-- Every search by face (the query service's `POST /v1/search/faces`), recorded before it runs, for
-- the audit a biometric system owes: who (the token's id and name and its role), when, what face
-- (the SHA-256 of the uploaded photo, or the event whose face was used), the scope searched, and once
-- it ran how many tracks it returned. A search whose record cannot be written does not run.
-- Readable by admins (`GET /v1/audit/face-searches`).
CREATE TABLE IF NOT EXISTS face_search_audit (
    id            bigserial PRIMARY KEY,
    searched_at   timestamptz NOT NULL DEFAULT now(),
    token_id      uuid NOT NULL,
    token_name    text NOT NULL,
    role          text NOT NULL,
    -- Hex SHA-256 of the photo; NULL when the search started from an event.
    photo_sha256  text,
    event_id      uuid,
    from_ms       bigint NOT NULL,
    to_ms         bigint NOT NULL,
    site          text NOT NULL DEFAULT '',
    stream_id     text NOT NULL DEFAULT '',
    threshold     real NOT NULL,
    -- 'started', then 'done' or 'failed'.
    outcome       text NOT NULL DEFAULT 'started',
    tracks_found  integer,
    CHECK ((photo_sha256 IS NULL) <> (event_id IS NULL))
);

CREATE INDEX IF NOT EXISTS face_search_audit_by_time ON face_search_audit (searched_at);
