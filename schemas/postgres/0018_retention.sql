-- Retention runs (docs/privacy.md, section 2): one instance at a time (an advisory lock), hourly and
-- on an admin's request; what each expired, per store.
CREATE TABLE IF NOT EXISTS retention_runs (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- `schedule`, or the admin who asked for it.
    trigger     text NOT NULL,
    -- `running`, `done` or `failed`.
    outcome     text NOT NULL DEFAULT 'running',
    counts      jsonb NOT NULL DEFAULT '{}',
    error       text
);
CREATE INDEX IF NOT EXISTS retention_runs_started ON retention_runs (started_at);

-- The audit log's own retention: a DELETE passes only in the retention job's transaction, which
-- says so with `SET LOCAL sightline.retention = 'on'` and records the run in the log itself.
-- UPDATE and TRUNCATE stay refused.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sightline.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
