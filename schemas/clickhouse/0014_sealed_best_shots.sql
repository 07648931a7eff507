-- Best shots kept sealed in the warehouse (docs/privacy.md, section 3): `sealed` holds the
-- detection's `SealedFields` (encoded, as ingest sealed them on the wire) and `jpeg` stays empty; the
-- query service opens them with the track's image key on each read, so the writer does not decrypt
-- every image it lands and a destroyed key makes the stored copy unreadable at once, before the
-- erasure's mutations have rewritten the parts. `track_id` with `stream_id` is the associated data
-- the ciphertext opens with. Rows landed before (and events in clear) keep their JPEG in `jpeg`.
-- One column per statement: ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, and the migration
-- runner takes a column that already exists as added (a run interrupted here is safe to repeat).
ALTER TABLE best_shot_jpegs ADD COLUMN track_id String DEFAULT '';
ALTER TABLE best_shot_jpegs ADD COLUMN sealed String DEFAULT '';
