// One alert opened on the desk: the best shot, who and where, links to the track, the person's
// sightings and the camera, what was done about it (who, when, their note) and the steps to take,
// and every delivery attempt.
import { useState } from "react";
import { type AlertDetail, type EventView } from "../api";
import { ErrorLine, FieldProblem, useFormAction } from "../forms";
import { readProblem, useApi } from "../data";
import { localTime } from "../time";
import { AppLink } from "../layout";
import { streamName, useStreams } from "../names";
import { ClipPlayer } from "../tracks/ClipPlayer";
import { Deliveries, StateBadge, takeStep } from "./AlertCard";

/** What a logged step says after who took it: "acknowledged", "resolved “note”", "sent the webhook again". */
function stepWords(action: string, note: string): string {
  if (action === "retried") return `sent the ${note} again`;
  return note ? `${action} “${note}”` : action;
}

interface AlertPanelProps {
  id: string;
  /** Shows the desk's alerts about this person. */
  onPersonFilter: (list: string, person: string) => void;
  onChanged: () => Promise<unknown>;
}

/** The open alert (`alert=` in the address). */
export function AlertPanel({ id, onPersonFilter, onChanged }: AlertPanelProps) {
  const answer = useApi<AlertDetail>(`/v1/alerts/${id}`);
  const streams = useStreams();
  const alert = answer.data;
  const [note, setNote] = useState("");
  const { problem, run, busy } = useFormAction(["note"]);
  const error = readProblem(answer.error);
  if (!alert) return error ? <ErrorLine error={error} /> : <p className="loading">Loading…</p>;

  const step = (action: "acknowledge" | "resolve" | "reopen") =>
    void run(async () => {
      await takeStep(alert, action, note);
      setNote("");
      await onChanged();
    });
  const name = alert.person_display_name;
  return (
    <section aria-labelledby="alert-title" className="alert-detail">
      <h3 id="alert-title">
        {name} <StateBadge alert={alert} />
      </h3>
      {alert.has_best_shot && <img className="best-shot" src={`/api/v1/alerts/${alert.id}/best-shot`} alt={`Best shot of ${name}`} />}
      <dl>
        <dt>Match</dt>
        <dd>
          similarity {alert.similarity.toFixed(2)} on {alert.list_name}
          {alert.person_external_id && ` (${alert.person_external_id})`}
        </dd>
        <dt>Camera</dt>
        <dd>
          {streamName(streams, alert.stream_id)}
          {alert.site && ` (${alert.site})`}
        </dd>
        <dt>Seen</dt>
        <dd>
          {localTime(alert.capture_time_ms)} (track first seen {localTime(alert.first_seen_ms)})
        </dd>
        <dt>Raised</dt>
        <dd>
          {localTime(alert.raised_ms)} by rule {alert.rule_name}
        </dd>
      </dl>
      <Scene alert={alert} />
      <AlertClip alert={alert} />
      <p className="links">
        <AppLink to={`/tracks?${new URLSearchParams({ track: alert.event_id })}`}>Open the track</AppLink>
        <AppLink to={`/watchlists?${new URLSearchParams({ list: alert.list_id, person: alert.person_id })}`}>{name}&apos;s page</AppLink>
        <AppLink to={`/streams?${new URLSearchParams({ stream: alert.stream_id })}`}>The camera now</AppLink>
        <button type="button" className="link" onClick={() => onPersonFilter(alert.list_id, alert.person_id)}>
          Alerts about {name}
        </button>
      </p>

      <h4>On the desk</h4>
      {alert.actions.length === 0 ? (
        <p className="muted">No one has taken it on yet.</p>
      ) : (
        <ol className="alert-log" aria-label="What was done">
          {alert.actions.map((action, index) => (
            <li key={index}>
              {localTime(action.at_ms)}: <strong>{action.by}</strong> {stepWords(action.action, action.note)}
            </li>
          ))}
        </ol>
      )}
      <form
        className="fields"
        aria-label="Handle the alert"
        onSubmit={(event) => {
          event.preventDefault();
          step(alert.state === "resolved" ? "reopen" : "resolve");
        }}
      >
        <label>
          Note (what you found or did)
          <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={2000} autoComplete="off" />
          <FieldProblem problem={problem} field="note" />
        </label>
        <FieldProblem problem={problem} field={null} />
        <div className="buttons">
          {alert.state === "new" && (
            <button type="button" disabled={busy} aria-busy={busy} onClick={() => step("acknowledge")}>
              Acknowledge
            </button>
          )}
          {alert.state !== "resolved" && (
            <button type="submit" disabled={busy} aria-busy={busy}>
              Resolve
            </button>
          )}
          {alert.state !== "new" && (
            <button type="button" className="secondary" disabled={busy} aria-busy={busy} onClick={() => step("reopen")}>
              Reopen
            </button>
          )}
        </div>
      </form>

      <h4>Deliveries</h4>
      {alert.deliveries.length === 0 ? (
        <p className="muted">None: the rule sends it nowhere.</p>
      ) : (
        <Deliveries alert={alert} onChanged={onChanged} />
      )}
      {alert.attempts.length > 0 && (
        <ol className="alert-log" aria-label="Delivery attempts">
          {alert.attempts.map((attempt, index) => (
            <li key={index}>
              {localTime(attempt.at_ms)}: {attempt.channel} attempt {attempt.attempt}, {attempt.outcome}
              {attempt.status_code > 0 && ` (${attempt.status_code})`}
              {attempt.error && <span className="error"> {attempt.error}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** How often, and how many times, the alert's event is asked of the warehouse before it lands. */
const EVENT_WAIT_MS = 2000;
const EVENT_WAIT_TIMES = 30;

/**
 * The video of the alert's track (its clip, with the person's box): the event it was raised on, from
 * the warehouse, which has it a few seconds after the alert; asked again until then.
 */
function AlertClip({ alert }: { alert: AlertDetail }) {
  const event = useApi<EventView>(`/v1/events/${alert.event_id}`, {
    retry: false,
    refetchInterval: (query) => (query.state.data || query.state.errorUpdateCount >= EVENT_WAIT_TIMES ? false : EVENT_WAIT_MS),
  });
  if (event.data) return <ClipPlayer event={event.data} patient />;
  if (event.error && event.errorUpdateCount >= EVENT_WAIT_TIMES) return <p className="clip-note">{readProblem(event.error)}</p>;
  return <p className="clip-note">The video of the track is on its way…</p>;
}

/** The camera's frame when the alert was raised, with the alert's person outlined. */
function Scene({ alert }: { alert: AlertDetail }) {
  const { scene } = alert;
  if (!scene) return <p className="muted">No frame of the camera was kept for this alert (no ingest instance answered in time).</p>;
  const person = scene.boxes.find((box) => box.track_id === alert.track_id);
  const after = (scene.capture_ms - alert.capture_time_ms) / 1000;
  return (
    <figure className="scene">
      <div className="scene-frame">
        <img src={`/api/v1/alerts/${alert.id}/scene`} alt={`The camera when the alert on ${alert.person_display_name} was raised`} />
        {person && (
          <div
            className="named-box"
            data-testid="alert-person-box"
            style={{
              left: `${person.x * 100}%`,
              top: `${person.y * 100}%`,
              width: `${person.width * 100}%`,
              height: `${person.height * 100}%`,
            }}
          >
            <span className="name-tag">{alert.person_display_name}</span>
          </div>
        )}
      </div>
      <figcaption className="muted">
        The camera at {localTime(scene.capture_ms)}, {Math.abs(after).toFixed(1)} s {after >= 0 ? "after" : "before"} the report that raised
        the alert{person ? "" : "; the person is not outlined: they were not detected in this frame"}.
      </figcaption>
    </figure>
  );
}
