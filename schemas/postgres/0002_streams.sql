-- Video streams that ingest analyses. Managed over ingest's REST API; every change is announced on the
-- `sightline_streams` channel (payload: the stream id) so running services apply it without restart.
CREATE TABLE IF NOT EXISTS streams (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source_url       text NOT NULL,
    site             text NOT NULL DEFAULT '',
    analysis_fps     integer NOT NULL DEFAULT 5 CHECK (analysis_fps BETWEEN 1 AND 30),
    -- Region of interest as fractions of the frame: {"x":..,"y":..,"width":..,"height":..}; NULL = all.
    roi              jsonb,
    face_min_score   real NOT NULL DEFAULT 0.8 CHECK (face_min_score > 0 AND face_min_score <= 1),
    person_min_score real NOT NULL DEFAULT 0.5 CHECK (person_min_score > 0 AND person_min_score <= 1),
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION notify_stream_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('sightline_streams', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS streams_changed ON streams;
CREATE TRIGGER streams_changed AFTER INSERT OR UPDATE OR DELETE ON streams
    FOR EACH ROW EXECUTE FUNCTION notify_stream_change();
