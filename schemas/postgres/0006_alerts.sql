-- Real-time watchlist alerts (the notifier). Rules are managed over the notifier's REST API; every
-- change is announced on `sightline_alert_rules` (payload: the rule id) so running notifiers apply it
-- at once. An alert is one row per (rule, stream, track), inserted before anything is delivered, so
-- crashes, restarts and replays never raise it twice; each channel's delivery of it is one row of
-- `alert_deliveries` (an outbox the delivery workers drain), and every attempt one row of
-- `alert_delivery_attempts`.
CREATE TABLE IF NOT EXISTS alert_rules (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Watchlists whose matches raise alerts (ids); empty: every list.
    list_ids      uuid[] NOT NULL DEFAULT '{}',
    -- Streams watched (ids); empty: every stream (within `sites`).
    stream_ids    uuid[] NOT NULL DEFAULT '{}',
    -- Sites watched; empty: every site.
    sites         text[] NOT NULL DEFAULT '{}',
    -- Lowest similarity that raises an alert (the list's own threshold applies first).
    min_similarity real NOT NULL DEFAULT 0 CHECK (min_similarity >= -1 AND min_similarity <= 1),
    -- After an alert for a person on a stream, no other alert of this rule for that person on that
    -- stream for this long (by capture time), seconds.
    cooldown_secs integer NOT NULL DEFAULT 300 CHECK (cooldown_secs BETWEEN 0 AND 604800),
    -- Channels: {"webhook": {"url": .., "secret": ..}, "email": {"to": [..]}, "live": true, "kafka": true}.
    channels      jsonb NOT NULL DEFAULT '{}',
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION notify_alert_rule_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('sightline_alert_rules', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS alert_rules_changed ON alert_rules;
CREATE TRIGGER alert_rules_changed AFTER INSERT OR UPDATE OR DELETE ON alert_rules
    FOR EACH ROW EXECUTE FUNCTION notify_alert_rule_change();

CREATE TABLE IF NOT EXISTS alerts (
    -- UUID v5 of (rule, stream, track): the same on every replay.
    id              uuid PRIMARY KEY,
    rule_id         uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    stream_id       text NOT NULL,
    site            text NOT NULL DEFAULT '',
    track_id        text NOT NULL,
    -- The enriched event that raised it (its best shot is served by the query API).
    event_id        text NOT NULL,
    list_id         uuid NOT NULL,
    list_name       text NOT NULL,
    person_id       uuid NOT NULL,
    person_external_id text NOT NULL DEFAULT '',
    person_display_name text NOT NULL,
    similarity      real NOT NULL,
    first_seen_ms   bigint NOT NULL,
    capture_time_ms bigint NOT NULL,
    best_shot_jpeg  bytea,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, stream_id, track_id)
);
CREATE INDEX IF NOT EXISTS alerts_cooldown ON alerts (rule_id, person_id, stream_id, capture_time_ms);
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts (raised_at DESC);

CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id     uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel      text NOT NULL CHECK (channel IN ('webhook', 'email', 'live', 'kafka')),
    -- Where it goes (URL, recipients, topic), as configured when the alert was raised.
    target       jsonb NOT NULL,
    -- pending (due at `due_at`), delivered, failed (given up; `last_error` says why).
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    due_at       timestamptz NOT NULL DEFAULT now(),
    last_error   text NOT NULL DEFAULT '',
    delivered_at timestamptz,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (due_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS alert_delivery_attempts (
    id          bigserial PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    attempt     integer NOT NULL,
    -- delivered, retry (will be tried again) or failed (given up or not retryable).
    outcome     text NOT NULL,
    -- HTTP status for webhooks; 0 otherwise or when there was no answer.
    status_code integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    duration_ms integer NOT NULL DEFAULT 0,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_delivery_attempts_alert ON alert_delivery_attempts (alert_id, id);

-- New alerts are announced on `sightline_alerts` (payload: the alert id) for every notifier's live feed.
CREATE OR REPLACE FUNCTION notify_alert_raised() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('sightline_alerts', NEW.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS alerts_raised ON alerts;
CREATE TRIGGER alerts_raised AFTER INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION notify_alert_raised();
