-- The audit log (docs/privacy.md, section 4): who looked at or changed what, for the account a
-- biometric system owes. Append-only for the services: a trigger refuses every UPDATE, DELETE and
-- TRUNCATE; its own retention (a later migration's job) will drop whole months under a role of its own.
CREATE TABLE IF NOT EXISTS audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    -- The token's or the user's id and name, their role, and how they called (token or session).
    principal_id   uuid NOT NULL,
    principal_name text NOT NULL,
    role           text NOT NULL,
    via            text NOT NULL,
    -- The service that recorded it.
    service        text NOT NULL,
    -- What was done: export.csv, export.pdf, watchlist.create, watchlist.person.enrol, ...
    action         text NOT NULL,
    -- What it was done to or with: a list or person id, an export's filters.
    subject        text NOT NULL DEFAULT '',
    -- How many items (events exported, faces added), when it counts some.
    count          bigint,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_action_at ON audit_log (action, at);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
