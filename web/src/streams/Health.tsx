// A stream's health in words, as the streams screen and the camera wall show it.
import { type Stream } from "../api";

/** A time of day in the browser's zone. */
export const time = (ms: number) => new Date(ms).toLocaleTimeString();

/** "1 face", "2 faces". */
export const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/** How long ago `ms` was, in words ("4 s ago", "3 min ago"). */
export function ago(ms: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/**
 * A stream's health in words: since when it runs (and its last frame) or has not run, the reason a
 * person can act on ("connection refused by 10.0.0.7:554", "authentication failed: …"), when it
 * retries, and, while it runs again, its last interruption.
 */
export function Health({ state }: { state: Stream["state"] }) {
  const since = state.since_ms == null ? "" : ` since ${time(state.since_ms)}`;
  const reason = state.last_error && <span className="error">{state.last_error}</span>;
  switch (state.phase) {
    case "running":
      return (
        <span data-testid="health">
          running{since}
          {state.last_frame_ms != null && `, last frame ${ago(state.last_frame_ms)}`}
          {state.last_error && state.last_error_ms != null && (
            <span className="muted">
              {" "}
              (last interruption {time(state.last_error_ms)}: {state.last_error})
            </span>
          )}
        </span>
      );
    case "reconnecting":
    case "starting":
      return (
        <span data-testid="health">
          {reason ?? "opening the source"}
          <span className="muted">
            {state.last_error ? `; not running${since}` : ""}
            {state.retry_in_ms != null && `; next try in ${Math.ceil(state.retry_in_ms / 1000)} s`}
          </span>
        </span>
      );
    case "failed":
      return (
        <span data-testid="health">
          {reason ?? "failed"}
          <span className="muted">; gave up, not running{since}</span>
        </span>
      );
    case "finished":
      return <span data-testid="health">analysed to its end{state.since_ms != null && ` at ${time(state.since_ms)}`}</span>;
    case "disabled":
      return <span data-testid="health">not analysed while disabled</span>;
    case "pending":
      return <span data-testid="health">waiting for an ingest instance to take it</span>;
    default:
      return <span data-testid="health">{state.phase}</span>;
  }
}
