// One camera on the wall: its live view (the analysed frames as they come) with the names of
// identified people on their boxes, its name and site, and its health in words.
import { keepPreviousData } from "@tanstack/react-query";
import { type Frame, type Stream } from "../api";
import { useApi } from "../data";
import { Health, time } from "../streams/Health";
import { type FrameFacts, useLiveView } from "./live";

/** Who a track is: the best watchlist match of its latest matched report. */
export interface Identified {
  name: string;
  list: string;
  similarity: number;
}

/** How often a camera's last frame is read again while its live view cannot be shown. */
const FRAME_MS = 1000;

/** Most frames a second a tile shows (a wall of many cameras: each as its stream is analysed, up to this). */
const LIVE_FPS = 10;

interface CameraTileProps {
  stream: Stream;
  /** Identified tracks, by track id. */
  identified: Map<string, Identified>;
  /** Whether the user may see faces and names (else only frames of a stream that blurs faces for viewers). */
  seesPeople: boolean;
}

/** A camera's tile. */
export function CameraTile({ stream, identified, seesPeople }: CameraTileProps) {
  const seesFrames = seesPeople || stream.blur_faces_for_viewers;
  const hasFrame = seesFrames && stream.state.snapshot != null;
  const running = stream.state.phase === "running";
  const live = useLiveView(seesFrames && running ? stream.id : null, LIVE_FPS);
  // The last analysed frame, read once a second while there is no live frame (a finished file, a
  // view reconnecting).
  const polled = useApi<Frame>(hasFrame && !live.frame ? `/v1/streams/${stream.id}/frame` : null, {
    refetchInterval: running ? FRAME_MS : false,
    refetchIntervalInBackground: true,
    placeholderData: keepPreviousData,
  }).data;
  const frame: { src: string; facts: FrameFacts; live: boolean } | null = live.frame
    ? { src: live.frame.url, facts: live.frame.facts, live: true }
    : polled && hasFrame
      ? { src: `data:image/jpeg;base64,${polled.jpeg}`, facts: polled, live: false }
      : null;
  const named = (frame?.facts.boxes ?? []).filter((box) => box.kind === "face" && identified.has(box.track_id));
  return (
    <article className={`tile tile-${stream.state.phase}`} aria-label={`Camera ${stream.name}`}>
      <header>
        <strong>{stream.name}</strong>
        {stream.site && <span className="muted"> {stream.site}</span>}
        {frame && <span className="muted tile-time">{time(frame.facts.capture_ms)}</span>}
        {frame?.live && (
          <span className="live-mark" data-testid="live">
            live
          </span>
        )}
        {frame?.facts.faces_blurred && (
          <span className="muted" data-testid="faces-blurred">
            {" "}
            faces blurred
          </span>
        )}
      </header>
      <div className="tile-frame">
        {frame ? (
          <>
            <img
              src={frame.src}
              alt={frame.live ? `Live view of ${stream.name}` : `Last analysed frame of ${stream.name}`}
              data-capture-ms={frame.facts.capture_ms}
            />
            {named.map((box) => {
              const who = identified.get(box.track_id);
              return (
                who && (
                  <div
                    key={box.track_id}
                    className="named-box"
                    style={{
                      left: `${box.x * 100}%`,
                      top: `${box.y * 100}%`,
                      width: `${box.width * 100}%`,
                      height: `${box.height * 100}%`,
                    }}
                  >
                    <span className="name-tag" data-testid="name-on-box">
                      {who.name} {who.similarity.toFixed(2)}
                    </span>
                  </div>
                )
              );
            })}
          </>
        ) : (
          <div className="no-frame">{seesFrames ? "no analysed frame" : "frames of this camera are for analysts and up"}</div>
        )}
      </div>
      <footer>
        <Health state={stream.state} />
        {live.problem && (
          <span className="muted" role="status">
            {" "}
            {live.problem}
          </span>
        )}
      </footer>
    </article>
  );
}
