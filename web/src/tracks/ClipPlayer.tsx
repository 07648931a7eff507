// A track's clip (docs/media.md): the camera's own video around the track, with the person's box
// drawn over the picture as they move (the track's box in each analysed frame) and the best shot's
// moment marked on its timeline.
import { useEffect, useRef, useState } from "react";
import { type EventView } from "../api";

/** How close to the best shot's moment (seconds) its box is drawn when the clip has no box path. */
const BOX_SHOWN_WITHIN_S = 0.4;

/** How long (ms) a box of the path stays drawn after its frame: a little over two analysed frames. */
const PATH_BOX_HOLD_MS = 500;

/** The track's box in each analysed frame: [t_ms from the clip's time 0, x, y, width, height]. */
type PathBox = [number, number, number, number, number];

/** The clip's box path, once the clip is complete (null before, or without one). */
function useBoxPath(eventId: string, reload: number): PathBox[] | null {
  const [path, setPath] = useState<PathBox[] | null>(null);
  useEffect(() => {
    let cancelled = false;
    setPath(null);
    fetch(`/api/v1/events/${eventId}/clip/boxes`)
      .then((response) => (response.ok ? (response.json() as Promise<{ boxes: PathBox[] }>) : null))
      .then((body) => !cancelled && setPath(body?.boxes ?? null))
      .catch(() => !cancelled && setPath(null));
    return () => {
      cancelled = true;
    };
  }, [eventId, reload]);
  return path;
}

/** The path's box shown at `ms` into the clip: the latest at or before it, if recent enough. */
function boxAt(path: PathBox[], ms: number): PathBox | null {
  let found: PathBox | null = null;
  for (const box of path) {
    if (box[0] > ms) break;
    found = box;
  }
  return found && ms - found[0] <= PATH_BOX_HOLD_MS ? found : null;
}

type Clip = { url: string; startMs: number } | { error: string } | { waiting: string } | null;

/** How often, and how many times, a clip not stored yet is asked for again (an alert's, just raised). */
const WAIT_MS = 2000;
const WAIT_TIMES = 15;

/**
 * The clip of `event`'s track: the video element streams it from the API with the session's cookie
 * (byte ranges, so it plays before it has all of it); a HEAD request first says whether there is one
 * and where its time 0 is. `patient`: a clip not found yet is asked for again for half a minute (the
 * track of an alert just raised reaches the warehouse a few seconds later). `reload` asks again.
 */
function useClip(eventId: string, patient: boolean, reload: number): Clip {
  const [clip, setClip] = useState<Clip>(null);
  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setClip(null);
    const url = `/api/v1/events/${eventId}/clip`;
    const ask = (attempt: number) =>
      fetch(url, { method: "HEAD" })
        .then((response) => {
          if (cancelled) return;
          if (response.status === 404 && patient && attempt < WAIT_TIMES) {
            setClip({ waiting: "The video is being stored…" });
            timer = setTimeout(() => void ask(attempt + 1), WAIT_MS);
            return;
          }
          if (response.status === 404) throw new Error("No video was kept of this track.");
          if (response.status === 403) throw new Error("Your role does not show video of people.");
          if (!response.ok) throw new Error(`The video could not be loaded (${response.status}).`);
          const startMs = Number(response.headers.get("X-Clip-Start-Ms"));
          setClip({ url: reload ? `${url}?v=${reload}` : url, startMs });
        })
        .catch((error: Error) => !cancelled && setClip({ error: error.message }));
    void ask(0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [eventId, patient, reload]);
  return clip;
}

/** The clip of `event`'s track with its best shot marked; a message when there is none. */
export function ClipPlayer({ event, patient = false }: { event: EventView; patient?: boolean }) {
  const [reload, setReload] = useState(0);
  const clip = useClip(event.id, patient, reload);
  const path = useBoxPath(event.id, reload);
  const video = useRef<HTMLVideoElement>(null);
  const [time, setTime] = useState(0);
  const [length, setLength] = useState(0);
  if (clip === null) return <p className="clip-note">Loading the video…</p>;
  if ("error" in clip) return <p className="clip-note">{clip.error}</p>;
  if ("waiting" in clip) return <p className="clip-note">{clip.waiting}</p>;
  const bestShotS = (event.capture_ms - clip.startMs) / 1000;
  const fromPath = path && boxAt(path, time * 1000);
  const bestShotBox: PathBox = [
    0,
    event.bbox_x / event.frame_width,
    event.bbox_y / event.frame_height,
    event.bbox_w / event.frame_width,
    event.bbox_h / event.frame_height,
  ];
  const shown = path ? fromPath : Math.abs(time - bestShotS) <= BOX_SHOWN_WITHIN_S ? bestShotBox : null;
  const box = shown && {
    left: `${100 * shown[1]}%`,
    top: `${100 * shown[2]}%`,
    width: `${100 * shown[3]}%`,
    height: `${100 * shown[4]}%`,
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
        {box && <div className="clip-box" style={box} data-testid="clip-box" />}
      </div>
      <div className="clip-timeline" aria-hidden="true">
        {length > 0 && <span className="clip-mark" style={{ left: `${Math.min(100, (100 * bestShotS) / length)}%` }} />}
      </div>
      <figcaption>
        <button type="button" onClick={seekToBestShot}>
          Show the best shot ({bestShotS.toFixed(1)} s)
        </button>{" "}
        {path ? (
          "The box follows the person through the video."
        ) : (
          <>
            The box marks the person at the best shot&apos;s moment. The video grows while the track lasts:{" "}
            <button type="button" className="link" onClick={() => setReload((n) => n + 1)}>
              load what is stored now
            </button>
          </>
        )}
      </figcaption>
    </figure>
  );
}
