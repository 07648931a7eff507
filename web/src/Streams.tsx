import { useCallback, useState } from "react";
import { type Roi, type Stream, type StreamFields, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ConfirmAction, ErrorLine, FieldProblem, FormProblem, useFormAction, useScreenError } from "./forms";
import { localInput } from "./time";
import { CardTable, WithPanel } from "./layout";
import { useQueryParam } from "./url";

/** How often the streams' live state is read again. */
const REFRESH_MS = 2000;

const time = (ms: number) => new Date(ms).toLocaleTimeString();
const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/**
 * The cameras and files being analysed, with their live state (refreshed every two seconds) and, for
 * those who may see faces, the last analysed frame; operators and admins add, change, disable,
 * restart and delete them.
 */
export function Streams() {
  const { can } = useSession();
  const { manages, seesPeople: seesFrames } = can;
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
      panel={form || (shown && <StreamDetail stream={shown} seesFrames={seesFrames} />)}
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
                {seesFrames && <th>Source</th>}
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
                  {seesFrames && <td className="url">{stream.source_url}</td>}
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

/** How long ago `ms` was, in words ("4 s ago", "3 min ago"). */
function ago(ms: number): string {
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
function Health({ state }: { state: Stream["state"] }) {
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

/** One stream's numbers and, for those who may see faces, its last analysed frame. */
function StreamDetail({ stream, seesFrames }: { stream: Stream; seesFrames: boolean }) {
  const { state } = stream;
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
        </dl>
        {!seesFrames && <p className="muted">Frames are shown to analysts, operators and admins.</p>}
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
                {stream.roi && ", the region of interest in yellow"}.
              </figcaption>
            </figure>
          ) : (
            <p className="empty">No analysed frame yet.</p>
          ))}
      </div>
    </section>
  );
}

/** A form's text for each field: what the inputs hold (enabling is a button of its own). */
type Draft = Record<Exclude<keyof StreamFields, "enabled">, string>;

const NUMBER_FIELDS = ["analysis_fps", "face_min_score", "person_min_score"] as const;

function draftOf(stream: Stream | null): Draft {
  const roi = stream?.roi;
  return {
    name: stream?.name ?? "",
    source_url: stream?.source_url ?? "",
    site: stream?.site ?? "",
    analysis_fps: String(stream?.analysis_fps ?? 5),
    face_min_score: String(stream?.face_min_score ?? 0.8),
    person_min_score: String(stream?.person_min_score ?? 0.5),
    roi: roi ? `${roi.x}, ${roi.y}, ${roi.width}, ${roi.height}` : "",
    media_start_ms: stream?.media_start_ms != null ? localInput(stream.media_start_ms) : "",
  };
}

/** The region typed as "x, y, width, height"; null for the whole frame. */
function roiOf(text: string): Roi | null {
  if (text.trim() === "") return null;
  const numbers = text.split(",").map((part) => (part.trim() === "" ? Number.NaN : Number(part.trim())));
  if (numbers.length !== 4 || !numbers.every(Number.isFinite)) {
    throw new FormProblem("roi", "roi must be four numbers: x, y, width, height (fractions of the frame)");
  }
  return { x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3] };
}

/** The fields as the API takes them. */
function fieldsOf(draft: Draft): StreamFields {
  const fields: StreamFields = {
    name: draft.name,
    source_url: draft.source_url,
    site: draft.site,
    analysis_fps: 0,
    face_min_score: 0,
    person_min_score: 0,
    roi: roiOf(draft.roi),
    media_start_ms: draft.media_start_ms === "" ? null : new Date(draft.media_start_ms).getTime(),
  };
  for (const field of NUMBER_FIELDS) fields[field] = Number(draft[field]);
  return fields;
}

interface StreamFormProps {
  /** The stream to change; null for a new one. */
  stream: Stream | null;
  /** After saving (with the stream's id) or cancelling (without). */
  onDone: (id?: string) => Promise<void>;
  onDeleted: () => Promise<void>;
}

/**
 * Adds a stream or changes one: a change sends only the fields that differ (a masked URL left as shown
 * keeps the stored one). The service's refusal appears beside the field it names.
 */
function StreamForm({ stream, onDone, onDeleted }: StreamFormProps) {
  const original = draftOf(stream);
  const [draft, setDraft] = useState<Draft>(original);
  const title = stream ? `Edit ${stream.name}` : "New stream";
  const { problem, run, submitting, busy } = useFormAction(Object.keys(original));

  const submit = submitting(async () => {
    const fields = fieldsOf(draft);
    if (stream) {
      const before = fieldsOf(original);
      const changed = Object.fromEntries(
        (Object.keys(fields) as (keyof Draft)[])
          .filter((key) => JSON.stringify(fields[key]) !== JSON.stringify(before[key]))
          .map((key) => [key, fields[key]]),
      );
      await api("PATCH", `/v1/streams/${stream.id}`, changed);
      await onDone(stream.id);
    } else {
      const created = await api<Stream>("POST", "/v1/streams", fields);
      await onDone(created.id);
    }
  });

  const remove = () =>
    run(async () => {
      if (!stream) return;
      await api("DELETE", `/v1/streams/${stream.id}`);
      await onDeleted();
    });

  const input = (field: keyof Draft, label: string, extra: { type?: string; step?: string; placeholder?: string } = {}) => (
    <label className={problem?.field === field ? "invalid" : undefined}>
      {label}
      <input
        value={draft[field]}
        onChange={(e) => setDraft({ ...draft, [field]: e.target.value })}
        aria-invalid={problem?.field === field}
        autoComplete="off"
        {...extra}
      />
      <FieldProblem problem={problem} field={field} />
    </label>
  );

  return (
    <section aria-labelledby="stream-form-title">
      <h2 id="stream-form-title">{title}</h2>
      <form className="fields" onSubmit={submit} aria-label={title}>
        {input("name", "Name")}
        {input("source_url", "Source URL", { placeholder: "rtsp://camera/stream" })}
        {input("site", "Site")}
        {input("analysis_fps", "Analysed frames per second", { type: "number" })}
        {input("face_min_score", "Minimum face score", { type: "number", step: "any" })}
        {input("person_min_score", "Minimum person score", { type: "number", step: "any" })}
        {input("roi", "Region of interest (x, y, width, height as fractions; empty: whole frame)", {
          placeholder: "0.1, 0.1, 0.8, 0.8",
        })}
        {input("media_start_ms", "For a file: when its first frame was taken (empty: from the file)", {
          type: "datetime-local",
        })}
        <FieldProblem problem={problem} field={null} />
        <div className="buttons">
          <button type="submit" disabled={busy} aria-busy={busy}>
            {stream ? "Save" : "Add"}
          </button>
          <button type="button" className="secondary" onClick={() => void onDone()}>
            Cancel
          </button>
          {stream && <ConfirmAction ask="Delete…" confirm={`Delete ${stream.name} for good`} onConfirm={() => void remove()} />}
        </div>
      </form>
    </section>
  );
}
