import { useCallback, useState } from "react";
import { type Stream, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ErrorLine, useScreenError } from "./forms";
import { Health } from "./streams/Health";
import { StreamDetail } from "./streams/StreamDetail";
import { StreamForm } from "./streams/StreamForm";
import { CardTable, WithPanel } from "./layout";
import { useQueryParam } from "./url";

/** How often the streams' live state is read again. */
const REFRESH_MS = 2000;

/**
 * The cameras and files being analysed, with their live state (refreshed every two seconds) and, for
 * those who may see faces (or for viewers, blurred, where the stream allows it), the last analysed frame; operators and admins add, change, disable,
 * restart and delete them.
 */
export function Streams() {
  const { can } = useSession();
  const { manages, seesPeople } = can;
  // Read every two seconds, also in a background tab (the state changes by itself).
  const list = useApi<Stream[]>("/v1/streams", { refetchInterval: REFRESH_MS, refetchIntervalInBackground: true });
  const streams = list.data ?? null;
  const refresh = useRefresh();
  const { error: actionError, fail, clear } = useScreenError();
  const error = actionError ?? readProblem(list.error);
  // The open stream is in the address (`?stream=`), so a reload, Back or a link shows it.
  const [selected, setSelected] = useQueryParam("stream");
  const [editing, setEditing] = useState<Stream | "new" | null>(null);
  const load = useCallback(() => refresh("/v1/streams"), [refresh]);

  /** Sends one change to a stream, then shows the list as it now is. */
  const act = async (method: string, path: string, body?: unknown) => {
    clear();
    try {
      await api(method, path, body);
      await load();
    } catch (caught) {
      fail(caught);
    }
  };

  const shown = streams?.find((stream) => stream.id === selected) ?? null;
  const close = useCallback(() => {
    setEditing(null);
    setSelected(null);
  }, [setSelected]);
  const form = editing !== null && (
    <StreamForm
      key={editing === "new" ? "new" : editing.id}
      stream={editing === "new" ? null : editing}
      onDone={async (id) => {
        setEditing(null);
        if (id) setSelected(id);
        await load();
      }}
      onDeleted={async () => {
        setEditing(null);
        setSelected(null);
        await load();
      }}
    />
  );
  return (
    <WithPanel
      panelKey={editing !== null ? `edit ${editing === "new" ? "new" : editing.id}` : (shown?.id ?? null)}
      onClose={close}
      panel={form || (shown && <StreamDetail stream={shown} seesPeople={seesPeople} />)}
    >
      <section aria-labelledby="streams-title">
        <div className="title-row">
          <h2 id="streams-title">Streams</h2>
          {manages && editing === null && (
            <button type="button" onClick={() => setEditing("new")}>
              Add stream
            </button>
          )}
        </div>
        <ErrorLine error={error} />
        {streams === null ? (
          <p className="loading">Loading…</p>
        ) : streams.length === 0 ? (
          <p className="empty">No streams yet.</p>
        ) : (
          <CardTable>
            <thead>
              <tr>
                <th>Name</th>
                <th>Site</th>
                <th>State</th>
                <th>Run by</th>
                <th>Analysed fps</th>
                <th>Frames</th>
                {seesPeople && <th>Source</th>}
                <th>Health</th>
                {manages && <th />}
              </tr>
            </thead>
            <tbody>
              {streams.map((stream) => (
                <tr key={stream.id} className={stream.id === selected ? "selected" : undefined}>
                  <td>
                    <button type="button" className="link" onClick={() => setSelected(stream.id)}>
                      {stream.name}
                    </button>
                  </td>
                  <td>{stream.site}</td>
                  <td>
                    <span className={`phase phase-${stream.state.phase}`}>{stream.state.phase}</span>
                  </td>
                  <td>{stream.owner ?? "–"}</td>
                  <td>{stream.state.fps?.toFixed(1) ?? "–"}</td>
                  <td>{stream.state.frames ?? "–"}</td>
                  {seesPeople && <td className="url">{stream.source_url}</td>}
                  <td>
                    <Health state={stream.state} />
                    {stream.state.delivery_error && (
                      <span className="error">Detections are not reaching Kafka: {stream.state.delivery_error}</span>
                    )}
                  </td>
                  {manages && (
                    <td className="actions">
                      <button type="button" onClick={() => setEditing(stream)}>
                        Edit {stream.name}
                      </button>
                      <button type="button" onClick={() => void act("PATCH", `/v1/streams/${stream.id}`, { enabled: !stream.enabled })}>
                        {stream.enabled ? `Disable ${stream.name}` : `Enable ${stream.name}`}
                      </button>
                      <button type="button" onClick={() => void act("POST", `/v1/streams/${stream.id}/restart`)}>
                        Restart {stream.name}
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </CardTable>
        )}
      </section>
    </WithPanel>
  );
}
