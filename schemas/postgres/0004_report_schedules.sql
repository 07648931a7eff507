-- Reports mailed on a schedule by the scheduler service, managed over its REST API.
-- `cron` has seconds first (sec min hour day-of-month month day-of-week [year]) and runs in UTC.
-- A report covers the `range_hours` before its due time, with the query API's event filters.
CREATE TABLE IF NOT EXISTS report_schedules (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    cron          text NOT NULL,
    format        text NOT NULL CHECK (format IN ('pdf', 'csv')),
    range_hours   integer NOT NULL CHECK (range_hours BETWEEN 1 AND 8784),
    -- {"site": .., "stream": .., "kind": .., "list": .., "person": .., "matched": true}; absent = any.
    filters       jsonb NOT NULL DEFAULT '{}',
    recipients    text[] NOT NULL CHECK (cardinality(recipients) BETWEEN 1 AND 100),
    enabled       boolean NOT NULL DEFAULT true,
    -- The next attempt; instances claim due rows with FOR UPDATE SKIP LOCKED, so each is made once.
    next_run_at   timestamptz NOT NULL,
    -- Failed attempts of the pending run (it is retried with backoff, then given up).
    failures      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS report_schedules_due ON report_schedules (next_run_at) WHERE enabled;

-- Every attempt to send a scheduled report: what was sent when, or why not. `due_at` is when the
-- attempt was due; `attempt` counts the attempts of one run from 1.
CREATE TABLE IF NOT EXISTS report_deliveries (
    schedule_id   uuid NOT NULL REFERENCES report_schedules (id) ON DELETE CASCADE,
    due_at        timestamptz NOT NULL,
    attempt       integer NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    ok            boolean NOT NULL,
    events        integer NOT NULL DEFAULT 0,
    bytes         integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, due_at, attempt)
);
