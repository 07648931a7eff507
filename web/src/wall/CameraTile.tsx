// One camera on the wall: its last analysed frame with the names of identified people on their
// boxes, its name and site, and its health in words.
import { keepPreviousData } from "@tanstack/react-query";
import { type Frame, type Stream } from "../api";
import { useApi } from "../data";
import { Health, time } from "../streams/Health";

/** Who a track is: the best watchlist match of its latest matched report. */
export interface Identified {
  name: string;
  list: string;
  similarity: number;
}

/** How often a running camera's frame is read again: as often as one is analysed for snapshots. */
const FRAME_MS = 1000;

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
  const frame = useApi<Frame>(hasFrame ? `/v1/streams/${stream.id}/frame` : null, {
    refetchInterval: running ? FRAME_MS : false,
    refetchIntervalInBackground: true,
    placeholderData: keepPreviousData,
  }).data;
  const named = (frame?.boxes ?? []).filter((box) => box.kind === "face" && identified.has(box.track_id));
  return (
    <article className={`tile tile-${stream.state.phase}`} aria-label={`Camera ${stream.name}`}>
      <header>
        <strong>{stream.name}</strong>
        {stream.site && <span className="muted"> {stream.site}</span>}
        {frame && <span className="muted tile-time">{time(frame.capture_ms)}</span>}
        {frame?.faces_blurred && (
          <span className="muted" data-testid="faces-blurred">
            {" "}
            faces blurred
          </span>
        )}
      </header>
      <div className="tile-frame">
        {frame && hasFrame ? (
          <>
            <img src={`data:image/jpeg;base64,${frame.jpeg}`} alt={`Last analysed frame of ${stream.name}`} />
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
      </footer>
    </article>
  );
}
