-- API tokens shared by every service's REST API (ingest, enrich, query): a token's role bounds what
-- it may do. Only a SHA-256 hash of the token is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    token_sha256 bytea NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'analyst', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
