-- Data keys of tracks (docs/privacy.md, section 3): the biometric fields of every event are sealed
-- on the wire with a random 256-bit key of their track, kept here wrapped (AES-256-GCM) by the
-- deployment's key-encryption key, which never enters the database. Destroying a row makes every
-- copy of what it sealed unreadable (Kafka topics, the dead-letter topic, replays, rebuilds).
--
-- Partitioned by day (days since the Unix epoch, UTC, of the track's first sight) so expiry drops
-- whole days; the partitions are created on demand by the services (common::keys), named
-- track_keys_YYYYMMDD.
CREATE TABLE IF NOT EXISTS track_keys (
    day         integer NOT NULL,
    key_id      uuid NOT NULL,
    stream_id   text NOT NULL,
    track_id    text NOT NULL,
    -- image: best shots, sealed by ingest; template: descriptors and identities, sealed by enrich.
    class       text NOT NULL CHECK (class IN ('image', 'template')),
    -- Set when a report of the track matched a watchlist (matched faces are kept longer).
    matched     boolean NOT NULL DEFAULT false,
    -- 12-byte nonce then the AES-256-GCM ciphertext and tag of the key, with the key id as
    -- associated data.
    wrapped_dek bytea NOT NULL,
    -- Which key-encryption key wrapped it (the first 16 hex digits of its SHA-256), for rotation.
    kek_id      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, key_id)
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS track_keys_track ON track_keys (stream_id, track_id);
