-- The scene of an alert: the camera's analysed frame when the alert was raised (fetched by the
-- notifier from the ingest instance running the stream, once the frame is no older than the report
-- that raised it), with every box detected in it and its track, so the alert's person is outlined on
-- screen. A frame shows faces: it goes with its alert (deleted with it) and is served to analysts and
-- up only.
CREATE TABLE IF NOT EXISTS alert_scenes (
    alert_id   uuid PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    capture_ms bigint NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    -- [{"kind", "track_id", "x", "y", "width", "height"}], fractions of the frame.
    boxes      jsonb NOT NULL,
    jpeg       bytea NOT NULL
);
