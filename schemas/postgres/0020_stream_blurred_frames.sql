-- Privacy by default per stream (docs/privacy.md): a stream whose frames viewers may see with every
-- face blurred. Without it viewers see no frame of the stream at all; analysts and up see frames
-- whole either way.
ALTER TABLE streams ADD COLUMN IF NOT EXISTS blur_faces_for_viewers boolean NOT NULL DEFAULT false;
