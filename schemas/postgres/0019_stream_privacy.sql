-- Privacy by default per stream (docs/privacy.md): a stream that keeps faces matching no watchlist
-- as counts only. Ingest stamps it on each detection; enrich drops such a face's descriptor and best
-- shot and destroys its track's keys when the track ends without a match.
ALTER TABLE streams ADD COLUMN IF NOT EXISTS count_only_unmatched_faces boolean NOT NULL DEFAULT false;
