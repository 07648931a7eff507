-- Best shots in the object store (docs/warehouse.md, "Images"): the warehouse keeps each image's key,
-- not its bytes. `object_key` is the key under the deployment's bucket and prefix
-- (`best-shots/<yyyy-mm-dd>/<stream>/<event id>`, the same on every replay, so a replay or a
-- `writer rebuild` stores the same object again); `object_sealed` says whether the object holds the
-- detection's `SealedFields` (opened with the track's image key, as `sealed` was) or a JPEG in clear.
-- Rows landed before keep their bytes in `jpeg` or `sealed` until the writer moves them out: it
-- stores each in the object store, lands the row again with its key (the later row replaces the
-- earlier one when the parts merge) and merges the partitions it changed.
-- One column per statement: ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, and the migration
-- runner takes a column that already exists as added (a run interrupted here is safe to repeat).
ALTER TABLE best_shot_jpegs ADD COLUMN object_key String DEFAULT '';
ALTER TABLE best_shot_jpegs ADD COLUMN object_sealed UInt8 DEFAULT 0;
