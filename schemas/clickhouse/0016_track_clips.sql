-- Tracks' video clips (docs/media.md): `clip_key` is the folder of the object store holding the
-- track's clip (`clips/<yyyy-mm-dd>/<stream>/<track id>`, fragmented MP4 pieces), `clip_start_ms`
-- the capture time of its first frame (the clip's time 0). Empty and 0 for tracks without a clip and
-- for tracks landed before clips existed. Every report of a track names the same clip, so the
-- track's latest state keeps it.
-- One column per statement (ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`; see 0015).
ALTER TABLE tracks ADD COLUMN clip_key String DEFAULT '';
ALTER TABLE tracks ADD COLUMN clip_start_ms Int64 DEFAULT 0;
