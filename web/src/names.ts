// The names screens show instead of ids and offer in their pickers: streams (ingest) and watchlists
// (enrich), read through the shared cache (one request however many screens and pickers ask).
import { type Stream, type Watchlist } from "./api";
import { useApi } from "./data";

/** The streams (none until read). */
export function useStreams(): Stream[] {
  return useApi<Stream[]>("/v1/streams").data ?? [];
}

/** The watchlists (none until read). */
export function useWatchlists(): Watchlist[] {
  return useApi<Watchlist[]>("/v1/watchlists").data ?? [];
}

/** The name of stream `id` (the id itself for a stream since deleted). */
export const streamName = (streams: Stream[], id: string) => streams.find((stream) => stream.id === id)?.name ?? id;

/** The sites of `streams`, sorted, each once. */
export const siteNames = (streams: Stream[]) => [...new Set(streams.map((stream) => stream.site).filter(Boolean))].sort();
