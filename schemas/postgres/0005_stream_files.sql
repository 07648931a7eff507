-- Video files: where their timeline starts (declared by the operator; capture times are this plus
-- the frame's position in the file) and when they were analysed to their end (a finished file is
-- not analysed again when ingest restarts, until an operator asks for it).
ALTER TABLE streams ADD COLUMN IF NOT EXISTS media_start_ms bigint;
ALTER TABLE streams ADD COLUMN IF NOT EXISTS finished_at timestamptz;
