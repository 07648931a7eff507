-- Short-lived, single-use tickets. Only a ticket's SHA-256 is stored.
-- - 'token' and 'session': for URLs a client cannot send headers to (a browser's EventSource on the
--   live feed), the ticket stands in the query string instead of a bearer token, so proxies' logs
--   never hold a credential that still works. `credential_id` is the token's or the session's id,
--   checked again for as long as what the ticket opened stays open.
-- - 'service': one service instance asks another for one resource (`credential_id`, e.g. a stream
--   whose frame it fetches) with a ticket of its own, never with its caller's credentials.
CREATE TABLE IF NOT EXISTS url_tickets (
    ticket_sha256 bytea PRIMARY KEY,
    via           text NOT NULL CHECK (via IN ('token', 'session', 'service')),
    credential_id uuid NOT NULL,
    expires_at    timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS url_tickets_by_expiry ON url_tickets (expires_at);
