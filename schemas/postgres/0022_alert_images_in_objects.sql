-- Alerts' images in the object store (#27; docs/warehouse.md, "Images"). An alert's best shot is the
-- object the writer stores for the raising report (`best-shots/<day>/<stream>/<event id>`, sealed as
-- the report carried it, opened with the track's image key on each read): the notifier stores the
-- same bytes under the same key as it raises the alert, so the image is there at once whichever
-- lands first. A scene's frame is stored under `scenes/<day>/<stream>/<alert id>`. The rows keep the
-- keys; alerts raised before keep their bytes here (`best_shot_jpeg`, `alert_scenes.jpeg`) until
-- they expire with their alert.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS best_shot_key text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS best_shot_sealed boolean NOT NULL DEFAULT false;
ALTER TABLE alert_scenes ADD COLUMN IF NOT EXISTS object_key text;
ALTER TABLE alert_scenes ALTER COLUMN jpeg DROP NOT NULL;
