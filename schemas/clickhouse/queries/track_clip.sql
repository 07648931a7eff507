-- A track's clip (docs/media.md): its folder in the object store and the capture time of its first
-- frame, from the track's latest state that names one, without FINAL. Bound: the track's site,
-- stream, kind and first sighting in seconds (the whole sort-key prefix of `tracks`), then its id.
-- params: 'site-a'; 'cam-01'; 'face'; 1795168800; 'track-1'
SELECT clip_key, clip_start_ms
FROM tracks
WHERE site = ? AND stream_id = ? AND kind = ? AND first_seen = toDateTime(?) AND track_id = ? AND clip_key != ''
ORDER BY version DESC
LIMIT 1
