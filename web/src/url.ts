// The address bar as the app's state: the screen is the path, what the screen shows (filters, the open
// track or list, the page) is the query, so a reload, Back and Forward and a link sent to a colleague
// all show the same thing.
import { useCallback, useMemo, useSyncExternalStore } from "react";

/** Dispatched on `window` when the app changes the address itself (the history API sends no event). */
const MOVED = "sightline:moved";

function subscribe(onChange: () => void) {
  window.addEventListener("popstate", onChange);
  window.addEventListener(MOVED, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(MOVED, onChange);
  };
}

const current = () => window.location.pathname + window.location.search;

/**
 * Goes to `url` (a path and query): a new history entry, or with `replace` the current one changed
 * (for typing, so Back does not step through every key).
 */
export function navigate(url: string, { replace = false }: { replace?: boolean } = {}) {
  if (url === current()) return;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new Event(MOVED));
}

/** The address shown: its path and its query. */
export function useAddress(): { path: string; query: URLSearchParams } {
  const address = useSyncExternalStore(subscribe, current);
  return useMemo(() => {
    const url = new URL(address, window.location.origin);
    return { path: url.pathname, query: url.searchParams };
  }, [address]);
}

/** Values to write into the query: "", null and undefined remove the key. */
export type QueryChanges = Record<string, string | null | undefined>;

/**
 * The screen's state in the address's query: `query` as it is, and `change(changes, options)`
 * which writes `changes` over it (a new history entry unless `replace`).
 */
export function useQueryState(): [URLSearchParams, (changes: QueryChanges, options?: { replace?: boolean }) => void] {
  const { query } = useAddress();
  const change = useCallback((changes: QueryChanges, options: { replace?: boolean } = {}) => {
    const next = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value == null || value === "") next.delete(key);
      else next.set(key, value);
    }
    const search = next.toString();
    navigate(window.location.pathname + (search ? `?${search}` : ""), options);
  }, []);
  return [query, change];
}

/**
 * One key of the address's query (`name`), such as the open list's id: its value (null when absent)
 * and a setter (null removes it; a new history entry unless `replace`).
 */
export function useQueryParam(name: string): [string | null, (value: string | null, options?: { replace?: boolean }) => void] {
  const [query, change] = useQueryState();
  const set = useCallback((value: string | null, options?: { replace?: boolean }) => change({ [name]: value }, options), [name, change]);
  return [query.get(name), set];
}
