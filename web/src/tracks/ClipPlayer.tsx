// A track's clip (docs/media.md): the camera's own video around the track, with the best shot's
// moment marked on its timeline and the person's box drawn over the picture at that moment.
import { useEffect, useRef, useState } from "react";
import { type EventView } from "../api";

/** How close to the best shot's moment (seconds) its box is drawn. */
const BOX_SHOWN_WITHIN_S = 0.4;

type Clip = { url: string; startMs: number } | { error: string } | null;

/**
 * The clip of `event`'s track: the video element streams it from the API with the session's cookie
 * (byte ranges, so it plays before it has all of it); a HEAD request first says whether there is one
 * and where its time 0 is.
 */
function useClip(eventId: string): Clip {
  const [clip, setClip] = useState<Clip>(null);
  useEffect(() => {
    let cancelled = false;
    setClip(null);
    const url = `/api/v1/events/${eventId}/clip`;
    fetch(url, { method: "HEAD" })
      .then((response) => {
        if (response.status === 404) throw new Error("No video was kept of this track.");
        if (response.status === 403) throw new Error("Your role does not show video of people.");
        if (!response.ok) throw new Error(`The video could not be loaded (${response.status}).`);
        const startMs = Number(response.headers.get("X-Clip-Start-Ms"));
        if (!cancelled) setClip({ url, startMs });
      })
      .catch((error: Error) => !cancelled && setClip({ error: error.message }));
    return () => {
      cancelled = true;
    };
  }, [eventId]);
  return clip;
}

/** The clip of `event`'s track with its best shot marked; a message when there is none. */
export function ClipPlayer({ event }: { event: EventView }) {
  const clip = useClip(event.id);
  const video = useRef<HTMLVideoElement>(null);
  const [time, setTime] = useState(0);
  const [length, setLength] = useState(0);
  if (clip === null) return <p className="clip-note">Loading the video…</p>;
  if ("error" in clip) return <p className="clip-note">{clip.error}</p>;
  const bestShotS = (event.capture_ms - clip.startMs) / 1000;
  const boxShown = Math.abs(time - bestShotS) <= BOX_SHOWN_WITHIN_S;
  const box = {
    left: `${(100 * event.bbox_x) / event.frame_width}%`,
    top: `${(100 * event.bbox_y) / event.frame_height}%`,
    width: `${(100 * event.bbox_w) / event.frame_width}%`,
    height: `${(100 * event.bbox_h) / event.frame_height}%`,
  };
  const seekToBestShot = () => {
    if (!video.current) return;
    video.current.pause();
    video.current.currentTime = bestShotS;
  };
  return (
    <figure className="clip">
      <div className="clip-frame">
        <video
          ref={video}
          src={clip.url}
          controls
          preload="auto"
          muted
          playsInline
          aria-label="Video of the track"
          onTimeUpdate={(e) => setTime(e.currentTarget.currentTime)}
          onSeeked={(e) => setTime(e.currentTarget.currentTime)}
          onLoadedMetadata={(e) => setLength(Number.isFinite(e.currentTarget.duration) ? e.currentTarget.duration : 0)}
          onDurationChange={(e) => setLength(Number.isFinite(e.currentTarget.duration) ? e.currentTarget.duration : 0)}
        />
        {boxShown && <div className="clip-box" style={box} data-testid="clip-box" />}
      </div>
      <div className="clip-timeline" aria-hidden="true">
        {length > 0 && <span className="clip-mark" style={{ left: `${Math.min(100, (100 * bestShotS) / length)}%` }} />}
      </div>
      <figcaption>
        <button type="button" onClick={seekToBestShot}>
          Show the best shot ({bestShotS.toFixed(1)} s)
        </button>{" "}
        The box marks the person at the best shot's moment.
      </figcaption>
    </figure>
  );
}
