// The alert desk: alerts as they are raised (the app's live feed), paged and filtered (period, site,
// camera, list, person, rule, state), each acknowledged, resolved with a note or reopened by the
// person on duty, which every desk sees at once; an alert opens beside the list with its track, the
// person's sightings and the camera. Below, the rules that raise them.
import { useCallback, useMemo } from "react";
import { type AlertRules, type Alerts as AlertsPage } from "./api";
import { ErrorLine } from "./forms";
import { streamName, useStreams, useWatchlists } from "./names";
import { WithPanel } from "./layout";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ANY_TIME, RangePicker, periodChanges, usePeriod } from "./time";
import { type QueryChanges, useQueryState } from "./url";
import { FilterFold, Pager, WhereAndWhoFilters, cursorsOf } from "./filters";
import { useAlertFeed } from "./feed";
import { AlertCard } from "./alerts/AlertCard";
import { AlertPanel } from "./alerts/AlertPanel";
import { Rules } from "./alerts/Rules";

/** Alerts per page. */
const PAGE = 25;

/** How often the list is read again without the feed (deliveries change after an alert arrives), ms. */
const REFRESH_MS = 60_000;

/** The desk's states, as the filter offers them. */
const STATES = [
  { key: "", label: "any state" },
  { key: "open", label: "open (new or acknowledged)" },
  { key: "new", label: "new" },
  { key: "acknowledged", label: "acknowledged" },
  { key: "resolved", label: "resolved" },
];

/** The alert desk and the rules. */
export function Alerts() {
  const { manages } = useSession().can;
  const streams = useStreams();
  const lists = useWatchlists();
  return (
    <>
      <AlertDesk />
      <Rules manages={manages} lists={lists} streams={streams} />
    </>
  );
}

/** The alerts, filtered and paged, with the open one beside them. */
function AlertDesk() {
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, ANY_TIME);
  const feed = useAlertFeed();
  const streams = useStreams();
  const rules = useApi<AlertRules>("/v1/alert-rules").data?.rules ?? [];
  const refresh = useRefresh();
  const filters = useMemo(
    () => ({
      site: query.get("site") ?? "",
      stream: query.get("stream") ?? "",
      list: query.get("list") ?? "",
      person: query.get("person") ?? "",
      rule: query.get("rule") ?? "",
      state: query.get("state") ?? "",
      q: query.get("q") ?? "",
    }),
    [query],
  );
  const cursors = useMemo(() => cursorsOf(query), [query]);
  const cursor = cursors[cursors.length - 1];
  const selectedId = query.get("alert");

  const asked = new URLSearchParams({ limit: String(PAGE) });
  if (period.preset !== ANY_TIME) {
    asked.set("from", String(period.range.from_ms));
    asked.set("to", String(period.range.to_ms));
  }
  for (const [key, value] of Object.entries(filters)) if (value) asked.set(key, value);
  if (cursor) asked.set("cursor", cursor);
  // Read at once, then every minute, also in a background tab, besides every change the feed
  // announces: a screen a guard keeps open refreshes itself, so its session lasts while it is watched.
  const answer = useApi<AlertsPage>(`/v1/alerts?${asked}`, { refetchInterval: REFRESH_MS, refetchIntervalInBackground: true });
  // No alerts from before beside an error: they would read as the answer to these filters.
  const page = answer.isError ? null : (answer.data ?? null);
  const error = readProblem(answer.error);
  const onChanged = useCallback(() => refresh("/v1/alerts"), [refresh]);

  /** New filters start again at the newest page. */
  const change = (next: QueryChanges) => setQuery({ ...next, pages: null });
  const close = useCallback(() => setQuery({ alert: null }), [setQuery]);
  const cameraOf = (id: string) => streamName(streams, id);
  const feedState = feed?.state ?? "connecting";
  const shownFrom = (cursors.length - 1) * PAGE + 1;

  return (
    <WithPanel
      panelKey={selectedId}
      onClose={close}
      panel={
        selectedId && (
          <AlertPanel
            key={selectedId}
            id={selectedId}
            onPersonFilter={(list, person) => change({ list, person, alert: null })}
            onChanged={onChanged}
          />
        )
      }
    >
      <section aria-labelledby="alerts-title">
        <div className="title-row">
          <h2 id="alerts-title">Alerts</h2>
          <span className={`phase phase-${feedState === "live" ? "running" : "reconnecting"}`} data-testid="feed">
            {feedState}
          </span>
          <Announcing />
        </div>
        <FilterFold set={Object.values(filters).filter(Boolean).length + (period.preset === ANY_TIME ? 0 : 1)}>
          <form className="inline filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
            <label>
              Search
              <input
                type="search"
                value={filters.q}
                placeholder="Name, external id or note"
                // Typing changes the address in place: Back goes to the search before, not to each key.
                onChange={(e) => setQuery({ q: e.target.value, pages: null }, { replace: true })}
              />
            </label>
            <RangePicker period={period} onChange={(next) => change(periodChanges(next))} anyTime />
            <WhereAndWhoFilters values={filters} change={change} anyList="any list" />
            <label>
              Rule
              <select value={filters.rule} onChange={(e) => change({ rule: e.target.value })}>
                <option value="">any rule</option>
                {rules.map((rule) => (
                  <option key={rule.id} value={rule.id}>
                    {rule.name}
                  </option>
                ))}
              </select>
            </label>
            <label>
              State
              <select value={filters.state} onChange={(e) => change({ state: e.target.value })}>
                {STATES.map((state) => (
                  <option key={state.key} value={state.key}>
                    {state.label}
                  </option>
                ))}
              </select>
            </label>
          </form>
        </FilterFold>
        <ErrorLine error={error} />
        {page === null ? (
          !error && <p className="loading">Loading…</p>
        ) : page.total === 0 ? (
          <p className="empty">
            {cursors.length === 1 && Object.values(filters).every((value) => !value) && period.preset === ANY_TIME
              ? "No alerts yet. New ones appear here as they are raised."
              : "No alerts match these filters."}
          </p>
        ) : (
          <>
            <p className="muted" data-testid="alert-count">
              {page.alerts.length === 0
                ? `None on this page of ${page.total}.`
                : `${shownFrom}–${shownFrom + page.alerts.length - 1} of ${page.total} ${page.total === 1 ? "alert" : "alerts"}, newest first`}
            </p>
            <ul className="alerts">
              {page.alerts.map((alert) => (
                <AlertCard
                  key={alert.id}
                  alert={alert}
                  camera={cameraOf(alert.stream_id)}
                  fresh={feed?.fresh.has(alert.id) ?? false}
                  selected={alert.id === selectedId}
                  onOpen={() => setQuery({ alert: alert.id })}
                  onChanged={onChanged}
                />
              ))}
            </ul>
          </>
        )}
        <Pager cursors={cursors} next={page?.next} change={setQuery} />
      </section>
    </WithPanel>
  );
}

/** Sound and browser notifications for new alerts, turned on by the user, in this browser. */
function Announcing() {
  const feed = useAlertFeed();
  if (!feed) return null;
  const { announcing, announce, notificationsRefused } = feed;
  return (
    <span className="announcing">
      <label className="check">
        <input type="checkbox" checked={announcing.sound} onChange={(e) => void announce({ sound: e.target.checked })} />
        Sound
      </label>
      <label className="check">
        <input type="checkbox" checked={announcing.notifications} onChange={(e) => void announce({ notifications: e.target.checked })} />
        Notifications
      </label>
      {notificationsRefused && (
        <span className="error" role="alert">
          {notificationsRefused}
        </span>
      )}
    </span>
  );
}
