-- The alert desk: the person on duty acknowledges an alert ("I am on it") and resolves it with a note
-- ("a visitor, let in"); everyone sees it at once. An alert's state is kept on the alert (for the
-- lists and the unread count), and every step, with who took it, when and their note, is one row of
-- `alert_actions`, which only grows: the desk's log of what was done about each alert.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'new'
    CHECK (state IN ('new', 'acknowledged', 'resolved'));
-- Who moved it to its state (a username or a token's name), when, and their note.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS handled_by text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS handled_at timestamptz;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS note text NOT NULL DEFAULT '';

-- The unread count and the desk's "new" filter read only the alerts no one took on yet.
CREATE INDEX IF NOT EXISTS alerts_new ON alerts (raised_at DESC) WHERE state = 'new';

CREATE TABLE IF NOT EXISTS alert_actions (
    id         bigserial PRIMARY KEY,
    alert_id   uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- acknowledged, resolved, reopened (back to new), or retried (a failed delivery sent again;
    -- `note` names the channel).
    action     text NOT NULL CHECK (action IN ('acknowledged', 'resolved', 'reopened', 'retried')),
    note       text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    by_name    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_actions_alert ON alert_actions (alert_id, id);
