// One stream's numbers and its last analysed frame: whole for those who may see faces, blurred for
// viewers of a stream that shows them its frames.
import { useState } from "react";
import { type Stream } from "../api";
import { Health, plural, time } from "./Health";

/** One stream's numbers and its last analysed frame, as the user's role may see it. */
export function StreamDetail({ stream, seesPeople }: { stream: Stream; seesPeople: boolean }) {
  const { state } = stream;
  const seesFrames = seesPeople || stream.blur_faces_for_viewers;
  // The frame asked for, when the service no longer had it (the stream restarted or stopped between
  // reading its state and fetching the image): the next state says what there is.
  const [gone, setGone] = useState<number | null>(null);
  return (
    <section aria-labelledby="detail-title">
      <h2 id="detail-title">{stream.name}</h2>
      <div className="detail">
        <dl>
          <dt>State</dt>
          <dd>{state.phase}</dd>
          <dt>Health</dt>
          <dd>
            <Health state={state} />
          </dd>
          <dt>Run by</dt>
          <dd>{stream.owner ? `ingest instance ${stream.owner}` : "no instance yet"}</dd>
          <dt>Analysed frames</dt>
          <dd>
            {state.frames ?? 0} ({state.frames_dropped ?? 0} dropped while analysis was busy)
          </dd>
          <dt>Reconnects</dt>
          <dd>{state.reconnects ?? 0}</dd>
          <dt>Detection events</dt>
          <dd>
            {state.events_delivered ?? 0} delivered, {state.events_failed ?? 0} lost
          </dd>
          <dt>Rate</dt>
          <dd>{stream.analysis_fps} fps asked</dd>
          <dt>Region of interest</dt>
          <dd>{stream.roi ? `${stream.roi.x}, ${stream.roi.y}, ${stream.roi.width} × ${stream.roi.height}` : "whole frame"}</dd>
          <dt>Minimum scores</dt>
          <dd>
            face {stream.face_min_score}, person {stream.person_min_score}
          </dd>
          <dt>Faces matching no watchlist</dt>
          <dd>{stream.count_only_unmatched_faces ? "counted only (no image or descriptor kept)" : "kept"}</dd>
          <dt>Frames for viewers</dt>
          <dd>{stream.blur_faces_for_viewers ? "shown, every face blurred" : "not shown"}</dd>
        </dl>
        {!seesFrames && <p className="muted">This camera's frames are shown to analysts, operators and admins.</p>}
        {seesFrames &&
          (state.snapshot && state.snapshot.capture_ms !== gone ? (
            <figure>
              {/* The capture time in the address makes the browser fetch each new frame once. */}
              <img
                src={`/api/v1/streams/${stream.id}/snapshot?at=${state.snapshot.capture_ms}`}
                alt={`Last analysed frame of ${stream.name}`}
                onError={() => setGone(state.snapshot?.capture_ms ?? null)}
              />
              <figcaption>
                Last analysed frame, captured {time(state.snapshot.capture_ms)}:{" "}
                <span data-testid="snapshot-counts">
                  {plural(state.snapshot.faces, "face")} (green), {plural(state.snapshot.bodies, "body", "bodies")} (blue)
                </span>
                {stream.roi && ", the region of interest in yellow"}
                {!seesPeople && <span data-testid="faces-blurred">; faces blurred</span>}.
              </figcaption>
            </figure>
          ) : (
            <p className="empty">No analysed frame yet.</p>
          ))}
      </div>
    </section>
  );
}
