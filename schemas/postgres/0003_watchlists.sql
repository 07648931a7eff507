-- Watchlists that enrich matches faces against. Managed over enrich's REST API; every change is
-- announced on the `sightline_watchlists` channel (payload: the list id) so running enrich instances
-- reload that list's in-memory index without restart.
CREATE TABLE IF NOT EXISTS watchlists (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Why the list exists (e.g. "VIP guests", "banned"), for the people who act on matches.
    purpose     text NOT NULL DEFAULT '',
    -- Minimum cosine similarity for a match.
    threshold   real NOT NULL DEFAULT 0.5 CHECK (threshold > -1 AND threshold <= 1),
    -- Candidates reported per list and face at most.
    top_k       integer NOT NULL DEFAULT 1 CHECK (top_k BETWEEN 1 AND 100),
    -- Streams the list applies to (stream ids); empty: every stream.
    stream_ids  text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS watchlist_persons (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    list_id      uuid NOT NULL REFERENCES watchlists (id) ON DELETE CASCADE,
    -- The person's id in the system of record that enrolled them.
    external_id  text NOT NULL DEFAULT '',
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS watchlist_persons_list ON watchlist_persons (list_id);

-- One or more descriptors per person; only descriptors of the model enrich runs are matched.
CREATE TABLE IF NOT EXISTS person_descriptors (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id     uuid NOT NULL REFERENCES watchlist_persons (id) ON DELETE CASCADE,
    -- The person's list, kept here so a change notification can name it even after a cascade.
    list_id       uuid NOT NULL REFERENCES watchlists (id) ON DELETE CASCADE,
    model_name    text NOT NULL,
    model_version text NOT NULL,
    -- L2-normalised descriptor.
    descriptor    real[] NOT NULL CHECK (cardinality(descriptor) > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS person_descriptors_list ON person_descriptors (list_id, model_name, model_version);

CREATE OR REPLACE FUNCTION notify_watchlist_change() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'watchlists' THEN
        PERFORM pg_notify('sightline_watchlists', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('sightline_watchlists', COALESCE(NEW.list_id, OLD.list_id)::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS watchlists_changed ON watchlists;
CREATE TRIGGER watchlists_changed AFTER INSERT OR UPDATE OR DELETE ON watchlists
    FOR EACH ROW EXECUTE FUNCTION notify_watchlist_change();
DROP TRIGGER IF EXISTS watchlist_persons_changed ON watchlist_persons;
CREATE TRIGGER watchlist_persons_changed AFTER INSERT OR UPDATE OR DELETE ON watchlist_persons
    FOR EACH ROW EXECUTE FUNCTION notify_watchlist_change();
DROP TRIGGER IF EXISTS person_descriptors_changed ON person_descriptors;
CREATE TRIGGER person_descriptors_changed AFTER INSERT OR UPDATE OR DELETE ON person_descriptors
    FOR EACH ROW EXECUTE FUNCTION notify_watchlist_change();
