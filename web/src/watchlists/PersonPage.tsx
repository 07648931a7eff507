// A watchlist person's page: their photos, name and external id (editable by managers), the other
// lists that have them, every sighting across cameras in a period, and their alerts.
import { useState } from "react";
import { type Alerts, type EventsPage, type PersonCounts, type PersonDetail, type Watchlist, api } from "../api";
import { readProblem, useApi, useRefresh } from "../data";
import { ErrorLine, FieldProblem, useFormAction } from "../forms";
import { AppLink, CardTable } from "../layout";
import { streamName, useStreams } from "../names";
import { useSession } from "../session";
import { RangePicker, localTime, periodChanges, usePeriod } from "../time";
import { useQueryState } from "../url";
import { StateBadge } from "../alerts/AlertCard";
import { PersonFields } from "./PersonFields";

/** Sightings listed on the page (the Tracks screen pages through all of them). */
const SIGHTINGS_SHOWN = 50;

/** Alerts listed on the page (the alert desk pages through all of them). */
const ALERTS_SHOWN = 10;

/** The page of person `personId` on `list` (`?list=…&person=…`). */
export function PersonPage({ list, personId, onChanged }: { list: Watchlist; personId: string; onChanged: () => Promise<unknown> }) {
  const { manages, administers } = useSession().can;
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, "30d");
  const streams = useStreams();
  const path = `/v1/watchlists/${list.id}/persons/${personId}`;
  const detail = useApi<PersonDetail>(path);
  const person = detail.data;
  const range = { from: String(period.range.from_ms), to: String(period.range.to_ms) };
  const who = { list: list.id, person: personId };
  const counted = useApi<PersonCounts>(`/v1/stats/persons?${new URLSearchParams({ ...range, ...who })}`);
  const sightings = useApi<EventsPage>(`/v1/events?${new URLSearchParams({ ...range, ...who, limit: String(SIGHTINGS_SHOWN) })}`);
  const alerts = useApi<Alerts>(`/v1/alerts?${new URLSearchParams({ ...who, limit: String(ALERTS_SHOWN) })}`);
  const error = readProblem(detail.error) ?? readProblem(counted.error) ?? readProblem(sightings.error) ?? readProblem(alerts.error);
  if (!person) return error ? <ErrorLine error={error} /> : <p className="loading">Loading…</p>;

  const total = counted.data?.persons.reduce((sum, row) => sum + row.sightings, 0) ?? null;
  const events = sightings.isError ? null : (sightings.data?.events ?? null);
  const cameras = new Set(events?.map((event) => event.stream_id));
  const tracksLink = `/tracks?${new URLSearchParams({ ...who, ...periodChanges(period) } as Record<string, string>)}`;
  return (
    <section aria-labelledby="person-title" className="person-page">
      <p>
        <button type="button" className="link" onClick={() => setQuery({ person: null })}>
          ← {list.name}
        </button>
      </p>
      <h2 id="person-title">{person.display_name}</h2>
      <p className="muted">
        {person.external_id ? `External id ${person.external_id}; ` : ""}on {person.list_name}
        {person.also_on.length > 0 && " and "}
        {person.also_on.map((entry, index) => (
          <span key={entry.person_id}>
            {index > 0 && ", "}
            <AppLink to={`/watchlists?${new URLSearchParams({ list: entry.list_id, person: entry.person_id })}`}>{entry.list_name}</AppLink>
          </span>
        ))}
      </p>
      {administers && (
        <p>
          <AppLink to={`/privacy?${new URLSearchParams({ erase_person: personId, erase_name: person.display_name })}`}>
            Erase this person…
          </AppLink>
        </p>
      )}
      <div className="photos">
        {Array.from({ length: person.pictures }, (_, n) => (
          <img key={n} src={`/api${path}/picture?n=${n}`} alt={`Photo ${n + 1} of ${person.display_name}`} />
        ))}
        {person.pictures === 0 && <span className="muted">No photo kept.</span>}
      </div>
      <p className="muted">
        {person.descriptors} enrolled {person.descriptors === 1 ? "face" : "faces"}
      </p>
      {manages && (
        <PersonForm
          key={person.id}
          person={person}
          path={path}
          onSaved={async () => {
            await onChanged();
          }}
        />
      )}
      <ErrorLine error={error} />

      <h3>Sightings</h3>
      <form className="inline filters" aria-label="Period of the sightings" onSubmit={(event) => event.preventDefault()}>
        <RangePicker period={period} onChange={(next) => setQuery(periodChanges(next))} />
      </form>
      <p data-testid="sightings-count">
        {total === null
          ? "Counting…"
          : total === 0
            ? "Not seen in this period."
            : `${total} ${total === 1 ? "track" : "tracks"} in this period${events && events.length < total ? `; the latest ${events.length} below` : ""}.`}{" "}
        <AppLink to={tracksLink}>All in Tracks</AppLink>
      </p>
      {events && events.length > 0 && (
        <>
          <p className="muted">
            On {cameras.size} {cameras.size === 1 ? "camera" : "cameras"}: {[...cameras].map((id) => streamName(streams, id)).join(", ")}
          </p>
          <CardTable aria-label={`Sightings of ${person.display_name}`}>
            <thead>
              <tr>
                <th>Best shot</th>
                <th>Seen</th>
                <th>Camera</th>
                <th>Similarity</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td>{event.best_shot_url && <img className="thumb" src={`/api${event.best_shot_url}`} alt="" />}</td>
                  <td>{localTime(event.capture_ms)}</td>
                  <td>{streamName(streams, event.stream_id)}</td>
                  <td>{event.matches.find((match) => match.person_id === personId)?.similarity.toFixed(2) ?? ""}</td>
                  <td>
                    <AppLink to={`/tracks?${new URLSearchParams({ track: event.id })}`}>Open</AppLink>
                  </td>
                </tr>
              ))}
            </tbody>
          </CardTable>
        </>
      )}

      <h3>Alerts</h3>
      {alerts.data && (
        <>
          <p>
            {alerts.data.total === 0 ? "No alert about them." : `${alerts.data.total} ${alerts.data.total === 1 ? "alert" : "alerts"}`}
            {alerts.data.total > 0 && (
              <>
                {" "}
                <AppLink to={`/alerts?${new URLSearchParams(who)}`}>On the alert desk</AppLink>
              </>
            )}
          </p>
          <ul className="alert-log" aria-label={`Alerts about ${person.display_name}`}>
            {alerts.data.alerts.map((alert) => (
              <li key={alert.id}>
                <AppLink to={`/alerts?${new URLSearchParams({ alert: alert.id })}`}>{localTime(alert.capture_time_ms)}</AppLink> on{" "}
                {streamName(streams, alert.stream_id)}, rule {alert.rule_name} <StateBadge alert={alert} />
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** The person's name and external id, changed by operators and admins. */
function PersonForm({ person, path, onSaved }: { person: PersonDetail; path: string; onSaved: () => Promise<void> }) {
  const [name, setName] = useState(person.display_name);
  const [externalId, setExternalId] = useState(person.external_id);
  const [saved, setSaved] = useState(false);
  const refresh = useRefresh();
  const { problem, submitting, busy } = useFormAction(["display_name", "external_id"]);
  const submit = submitting(async () => {
    setSaved(false);
    await api("PATCH", path, { display_name: name, external_id: externalId });
    await Promise.all([refresh(path), refresh(`/v1/watchlists/${person.list_id}/persons`), onSaved()]);
    setSaved(true);
  });
  return (
    <form className="inline" onSubmit={submit} aria-label={`Edit ${person.display_name}`}>
      <PersonFields name={name} externalId={externalId} onName={setName} onExternalId={setExternalId} problem={problem} />
      <button type="submit" disabled={busy} aria-busy={busy}>
        Save
      </button>
      {saved && <span className="notice">Saved. New matches carry the new name; alerts and tracks already recorded keep theirs.</span>}
      <FieldProblem problem={problem} field={null} />
    </form>
  );
}
