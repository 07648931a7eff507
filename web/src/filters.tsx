// The filters and pages lists share: where (site, stream) and who (watchlist, person), picked by name,
// and the Newer/Older pager over a service's cursors, both kept in the address.
import { type ReactNode, useSyncExternalStore } from "react";
import { type ListedPerson } from "./api";
import { WIDE } from "./layout";
import { useApi } from "./data";
import { siteNames, useStreams, useWatchlists } from "./names";
import { type QueryChanges } from "./url";

/** The filters' values, by the address's keys. */
export interface WhereAndWho {
  site: string;
  stream: string;
  list: string;
  person: string;
}

/** Site, stream, watchlist and person pickers; choosing a list clears the person. */
export function WhereAndWhoFilters({
  values,
  change,
  anyList,
}: {
  values: WhereAndWho;
  change: (next: QueryChanges) => void;
  anyList: string;
}) {
  const streams = useStreams();
  const lists = useWatchlists();
  const persons = useApi<ListedPerson[]>(values.list ? `/v1/watchlists/${values.list}/persons` : null).data ?? [];
  return (
    <>
      <label>
        Site
        <select value={values.site} onChange={(e) => change({ site: e.target.value })}>
          <option value="">every site</option>
          {siteNames(streams).map((site) => (
            <option key={site}>{site}</option>
          ))}
        </select>
      </label>
      <label>
        Stream
        <select value={values.stream} onChange={(e) => change({ stream: e.target.value })}>
          <option value="">every stream</option>
          {streams.map((stream) => (
            <option key={stream.id} value={stream.id}>
              {stream.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Watchlist
        <select value={values.list} onChange={(e) => change({ list: e.target.value, person: "" })}>
          <option value="">{anyList}</option>
          {lists.map((list) => (
            <option key={list.id} value={list.id}>
              {list.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Person
        <select value={values.person} disabled={!values.list} onChange={(e) => change({ person: e.target.value })}>
          <option value="">{values.list ? "anyone on the list" : "pick a list first"}</option>
          {persons.map((person) => (
            <option key={person.id} value={person.id}>
              {person.display_name}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

/** The cursors of the pages before the one shown, from the address's `pages` (the first page has none). */
export const cursorsOf = (query: URLSearchParams): (string | null)[] => [null, ...(query.get("pages")?.split(",").filter(Boolean) ?? [])];

/** Newer and Older over a list's pages; `next` is the service's cursor of the next page (none on the last). */
export function Pager({
  cursors,
  next,
  change,
}: {
  cursors: (string | null)[];
  next: string | null | undefined;
  change: (next: QueryChanges) => void;
}) {
  const setCursors = (pages: (string | null)[]) => change({ pages: pages.filter(Boolean).join(",") });
  // One page only: nothing to turn.
  if (cursors.length === 1 && !next) return null;
  return (
    <div className="pager">
      <button type="button" className="secondary" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
        Newer
      </button>
      <span className="muted">page {cursors.length}</span>
      <button type="button" className="secondary" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
        Older
      </button>
    </div>
  );
}

/** Whether the window is wide enough for a list and its detail side by side, followed as it changes. */
function useWide(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const query = window.matchMedia(WIDE);
      query.addEventListener("change", onChange);
      return () => query.removeEventListener("change", onChange);
    },
    () => window.matchMedia(WIDE).matches,
  );
}

/**
 * A list's filters: shown as they are on a wide screen; on a narrow one folded behind "Filters (n
 * set)", so the list itself is on the first screen of a phone.
 */
export function FilterFold({ set, children }: { set: number; children: ReactNode }) {
  if (useWide()) return <>{children}</>;
  return (
    <details className="filter-fold">
      <summary>Filters{set > 0 ? ` (${set} set)` : ""}</summary>
      {children}
    </details>
  );
}
