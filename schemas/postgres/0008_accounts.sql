-- People's accounts for the web app, beside the bearer tokens programs use (0001_api_tokens.sql).
-- Passwords are stored as argon2id PHC strings; a session's secret (the cookie's value) and an API
-- token are stored only as SHA-256 hashes. Roles are the tokens' roles.
CREATE TABLE IF NOT EXISTS users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username        text NOT NULL UNIQUE,
    password_argon2 text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'operator', 'analyst', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A disabled user cannot log in, and their sessions end.
    disabled_at     timestamptz
);

-- A browser's login. It ends at logout, when its user is disabled, after `idle_seconds` without a
-- request (each request moves `idle_expires_at`), and at `expires_at` whatever happens.
CREATE TABLE IF NOT EXISTS sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    secret_sha256   bytea NOT NULL UNIQUE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back by the browser in the X-CSRF-Token header of every request that changes something.
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    idle_seconds    integer NOT NULL CHECK (idle_seconds > 0),
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz
);

CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);

-- Failed logins, counted per username and per client address over a window to throttle guessing.
CREATE TABLE IF NOT EXISTS login_failures (
    id        bigserial PRIMARY KEY,
    username  text NOT NULL,
    client    text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS login_failures_by_username ON login_failures (username, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_by_client ON login_failures (client, failed_at);

-- Tokens may expire; NULL never does.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;

-- Face searches made from a browser session name the user: `via` says whether `token_id` and
-- `token_name` are a token's or a user's.
ALTER TABLE face_search_audit ADD COLUMN IF NOT EXISTS via text NOT NULL DEFAULT 'token'
    CHECK (via IN ('token', 'session'));
