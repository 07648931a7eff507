-- Which ingest instance runs each enabled stream: one at a time, by a lease it renews every few
-- seconds. An instance that stops releases its leases; one that dies lets them expire, and the
-- others take its streams. Instances share the streams evenly: each takes at most its share of the
-- enabled streams among the live instances, and gives back what it holds beyond it.
CREATE TABLE IF NOT EXISTS ingest_instances (
    instance text PRIMARY KEY,
    -- Where its streams API answers, for the other instances (a stream's frame is fetched there).
    api_url text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS stream_leases (
    stream_id uuid PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    instance text NOT NULL,
    api_url text NOT NULL,
    expires_at timestamptz NOT NULL,
    -- The owner's latest state of the stream (the API's `state`), so every instance answers it.
    status jsonb,
    status_at timestamptz
);

CREATE INDEX IF NOT EXISTS stream_leases_instance ON stream_leases (instance);
