import { useCallback, useMemo } from "react";
import { type EventView, type EventsPage } from "./api";
import { ErrorLine } from "./forms";
import { readProblem, useApi } from "./data";
import { streamName, useStreams } from "./names";
import { Pager, WhereAndWhoFilters, cursorsOf } from "./filters";
import { type Range, RangePicker, localTime, periodChanges, usePeriod } from "./time";
import { type QueryChanges, useQueryState } from "./url";
import { CardTable, WithPanel } from "./layout";
import { TrackDetail, duration } from "./tracks/TrackDetail";

interface TracksProps {
  /** Opens the face search from a track's face. */
  onSearchFace: (eventId: string) => void;
}

/** What the list shows: the filters, by name. */
interface Filters {
  range: Range;
  site: string;
  stream: string;
  list: string;
  person: string;
  /** "face", "body" or "both". */
  kind: string;
  matched: boolean;
}

/** Tracks per page. */
const PAGE = 25;

/** The query string of `filters` (the events API's and the reports' parameters). */
function queryOf(filters: Filters): URLSearchParams {
  const query = new URLSearchParams({ from: String(filters.range.from_ms), to: String(filters.range.to_ms) });
  for (const key of ["site", "stream", "list", "person"] as const) if (filters[key]) query.set(key, filters[key]);
  if (filters.kind !== "both") query.set("kind", filters.kind);
  if (filters.matched) query.set("matched", "true");
  return query;
}

/**
 * Tracks and their events: filters picked by name (site, stream, watchlist, person), pages that
 * follow the API's cursor (so none is skipped or repeated however many arrive meanwhile), a track's
 * detail with its best shot, matches and timeline, and the selection as CSV or PDF.
 */
export function Tracks({ onSearchFace }: TracksProps) {
  // Everything the screen shows is in the address: the period, the filters, the page and the open track.
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, "24h");
  const filters = useMemo<Filters>(
    () => ({
      range: period.range,
      site: query.get("site") ?? "",
      stream: query.get("stream") ?? "",
      list: query.get("list") ?? "",
      person: query.get("person") ?? "",
      kind: query.get("kind") ?? "face",
      matched: query.get("matched") === "true",
    }),
    [query, period],
  );
  // Cursors of the pages before the one shown (the first page has none).
  const cursors = useMemo(() => cursorsOf(query), [query]);
  const selectedId = query.get("track");
  const streams = useStreams();

  const cursor = cursors[cursors.length - 1];
  const eventsQuery = queryOf(filters);
  eventsQuery.set("limit", String(PAGE));
  if (cursor) eventsQuery.set("cursor", cursor);
  const events = useApi<EventsPage>(`/v1/events?${eventsQuery}`);
  // No rows from before beside an error: they would read as the answer to these filters.
  const page = events.isError ? null : (events.data ?? null);
  // The open track: from the page when it is on it, else asked for (a link, a reload on another page).
  const onPage = page?.events.find((event) => event.id === selectedId) ?? null;
  const opened = useApi<EventView>(selectedId && !onPage ? `/v1/events/${selectedId}` : null);
  const selected = selectedId ? (onPage ?? opened.data ?? null) : null;
  const error = readProblem(events.error) ?? readProblem(opened.error);

  /** New filters start again at the newest page. */
  const change = (next: QueryChanges) => setQuery({ ...next, pages: null });
  const setSelected = (event: EventView) => setQuery({ track: event.id });
  const close = useCallback(() => setQuery({ track: null }), [setQuery]);
  const cameraOf = (id: string) => streamName(streams, id);
  // The PDF prints times in the browser's zone; the CSV's times are UTC with their ms, as the
  // service writes them, and it refuses a zone.
  const zone = encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone);
  const downloads = {
    csv: `/api/v1/reports/events.csv?${queryOf(filters)}`,
    pdf: `/api/v1/reports/summary.pdf?${queryOf(filters)}&tz=${zone}`,
  };

  return (
    <WithPanel
      panelKey={selected?.id ?? null}
      onClose={close}
      panel={selected && <TrackDetail event={selected} camera={cameraOf(selected.stream_id)} onSearchFace={onSearchFace} />}
    >
      <section aria-labelledby="tracks-title">
        <h2 id="tracks-title">Tracks</h2>
        <form className="inline filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
          <RangePicker period={period} onChange={(next) => change(periodChanges(next))} />
          <WhereAndWhoFilters values={filters} change={change} anyList="any or none" />
          <label>
            Kind
            <select value={filters.kind} onChange={(e) => change({ kind: e.target.value === "face" ? null : e.target.value })}>
              <option value="face">faces</option>
              <option value="body">bodies</option>
              <option value="both">both</option>
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={filters.matched} onChange={(e) => change({ matched: e.target.checked ? "true" : null })} />
            only identified
          </label>
          <a className="button" href={downloads.csv} download>
            Download CSV
          </a>
          <a className="button" href={downloads.pdf} download>
            Download PDF
          </a>
        </form>
        <ErrorLine error={error} />
        {page === null ? (
          !error && <p className="loading">Loading…</p>
        ) : page.events.length === 0 ? (
          <p className="empty">No tracks match.</p>
        ) : (
          <CardTable>
            <thead>
              <tr>
                <th>Best shot</th>
                <th>Seen</th>
                <th>Camera</th>
                <th>Kind</th>
                <th>In view</th>
                <th>Identified as</th>
              </tr>
            </thead>
            <tbody>
              {page.events.map((event) => (
                <tr
                  key={event.id}
                  className={event.id === selected?.id ? "selected clickable" : "clickable"}
                  onClick={() => setSelected(event)}
                  aria-label={`Track ${event.track_id}`}
                >
                  <td>{event.best_shot_url && <img className="thumb" src={`/api${event.best_shot_url}`} alt="" />}</td>
                  <td>{localTime(event.capture_ms)}</td>
                  <td>
                    {cameraOf(event.stream_id)}
                    {event.site && <span className="muted"> ({event.site})</span>}
                  </td>
                  <td>{event.kind}</td>
                  <td>{duration(event.last_seen_ms - event.first_seen_ms)}</td>
                  <td>
                    {event.matches.length === 0 ? (
                      <span className="muted">not identified</span>
                    ) : (
                      event.matches.map((match) => `${match.person_display_name} (${match.similarity.toFixed(2)})`).join(", ")
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </CardTable>
        )}
        <Pager cursors={cursors} next={page?.next_cursor} change={setQuery} />
      </section>
    </WithPanel>
  );
}
