// The names screens show instead of ids and offer in their pickers: streams (ingest) and watchlists
// (enrich), read once per screen.
import { useCallback, useEffect, useState } from "react";
import { type Stream, type Watchlist, api } from "./api";

/** The streams, and a function that reads them again (a camera added since). Failures go to `fail`. */
export function useStreams(fail: (caught: unknown) => void): [Stream[], () => void] {
  const [streams, setStreams] = useState<Stream[]>([]);
  const reload = useCallback(() => {
    api<Stream[]>("GET", "/v1/streams").then(setStreams, fail);
  }, [fail]);
  useEffect(reload, [reload]);
  return [streams, reload];
}

/** The watchlists. Failures go to `fail`. */
export function useWatchlists(fail: (caught: unknown) => void): Watchlist[] {
  const [lists, setLists] = useState<Watchlist[]>([]);
  useEffect(() => {
    api<Watchlist[]>("GET", "/v1/watchlists").then(setLists, fail);
  }, [fail]);
  return lists;
}

/** The name of stream `id` (the id itself for a stream since deleted). */
export const streamName = (streams: Stream[], id: string) => streams.find((stream) => stream.id === id)?.name ?? id;

/** The sites of `streams`, sorted, each once. */
export const siteNames = (streams: Stream[]) => [...new Set(streams.map((stream) => stream.site).filter(Boolean))].sort();
