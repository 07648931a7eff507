// One track: its best shot, its video clip, its matches and its timeline.
import { type EventView } from "../api";
import { localTime } from "../time";
import { ClipPlayer } from "./ClipPlayer";

/** How long a track was in view, in words. */
export const duration = (ms: number) => (ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);

/** One track: its best shot, its matches and its timeline. */
export function TrackDetail({ event, camera, onSearchFace }: { event: EventView; camera: string; onSearchFace: (id: string) => void }) {
  return (
    <section aria-labelledby="track-title">
      <h2 id="track-title">
        Track on {camera}, {localTime(event.first_seen_ms)}
      </h2>
      <div className="detail">
        {event.best_shot_url && <img className="best-shot" src={`/api${event.best_shot_url}`} alt="Best shot of the track" />}
        <dl>
          <dt>First seen</dt>
          <dd>{localTime(event.first_seen_ms)}</dd>
          <dt>Best shot</dt>
          <dd>
            {localTime(event.capture_ms)} (quality {event.quality.toFixed(2)})
          </dd>
          <dt>Last seen</dt>
          <dd>{localTime(event.last_seen_ms)}</dd>
          <dt>In view</dt>
          <dd>
            {duration(event.last_seen_ms - event.first_seen_ms)}, {event.frame_count} frames
          </dd>
          <dt>Matches</dt>
          <dd>
            {event.matches.length === 0
              ? "no one on a watchlist"
              : event.matches.map((match) => (
                  <div key={`${match.list_id}/${match.person_id}`}>
                    {match.person_display_name} on {match.list_name}, similarity {match.similarity.toFixed(2)}
                  </div>
                ))}
          </dd>
        </dl>
        {event.kind === "face" && (
          <button type="button" onClick={() => onSearchFace(event.id)}>
            Search for this face
          </button>
        )}
      </div>
      <ClipPlayer event={event} />
    </section>
  );
}
