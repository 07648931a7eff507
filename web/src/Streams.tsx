import { useEffect, useState } from "react";
import { ApiError, type Session, type Stream, api } from "./api";

interface StreamsProps {
  role: Session["role"];
  /** Handles a 401 (the session ended); true when it did. */
  onSessionEnded: (error: unknown) => boolean;
}

/** How often the streams' live state is read again. */
const REFRESH_MS = 2000;

/** The cameras and files being analysed, with their live state, refreshed every two seconds. */
export function Streams({ role, onSessionEnded }: StreamsProps) {
  const [streams, setStreams] = useState<Stream[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const answer = await api<Stream[]>("GET", "/v1/streams");
        if (!stopped) {
          setStreams(answer);
          setError(null);
        }
      } catch (caught) {
        if (stopped || onSessionEnded(caught)) return;
        setError(caught instanceof ApiError ? caught.message : "The streams could not be read.");
      }
    };
    void load();
    const timer = window.setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [onSessionEnded]);

  return (
    <section aria-labelledby="streams-title">
      <h2 id="streams-title">Streams</h2>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {streams === null ? (
        <p className="loading">Loading…</p>
      ) : streams.length === 0 ? (
        <p className="empty">No streams yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Site</th>
              <th>State</th>
              <th>Analysed fps</th>
              {role !== "viewer" && <th>Source</th>}
              <th>Problem</th>
            </tr>
          </thead>
          <tbody>
            {streams.map((stream) => (
              <tr key={stream.id}>
                <td>{stream.name}</td>
                <td>{stream.site}</td>
                <td>
                  <span className={`phase phase-${stream.state.phase}`}>{stream.state.phase}</span>
                </td>
                <td>{stream.state.fps?.toFixed(1) ?? "–"}</td>
                {role !== "viewer" && <td className="url">{stream.source_url}</td>}
                <td>{stream.state.last_error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
