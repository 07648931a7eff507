// Reading the services: every screen's data goes through TanStack Query, keyed by the API path it
// reads, so loading, polling, retries, stale answers and refreshing after a change are handled once
// here instead of by hand on every screen. A change (POST, PATCH, DELETE) calls `api` and then
// `useRefresh()` with the paths it touched.
import { QueryCache, QueryClient, type UseQueryOptions, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { ApiError, api } from "./api";
import { messageOf } from "./forms";
import { sessionEnded } from "./session";

/**
 * The app's query client: a failed read that says the session ended goes to `onSessionEnded` (the
 * login comes back); a refusal (4xx) is not retried, a fault or an unreachable service is, twice.
 */
export function makeQueryClient(onSessionEnded: (error: unknown) => void): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error) => {
        if (sessionEnded(error)) onSessionEnded(error);
      },
    }),
    defaultOptions: {
      queries: {
        retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
        refetchOnWindowFocus: true,
      },
    },
  });
}

/** Options of `useApi`: TanStack Query's, without the key and function it makes from the path. */
type ApiOptions<T> = Omit<UseQueryOptions<T, Error>, "queryKey" | "queryFn">;

/** Reads `path` (under /api) with GET, cached under the path; null reads nothing (`enabled` false). */
export function useApi<T>(path: string | null, options: ApiOptions<T> = {}) {
  return useQuery<T, Error>({
    ...options,
    queryKey: [path],
    queryFn: () => api<T>("GET", path as string),
    enabled: path !== null && (options.enabled ?? true),
  });
}

/**
 * Reads again every cached path that starts with one of `prefixes` (after a change), and waits for
 * the answers of those shown.
 */
export function useRefresh() {
  const client = useQueryClient();
  return useCallback(
    (...prefixes: string[]) =>
      client.invalidateQueries({
        predicate: (query) => prefixes.some((prefix) => String(query.queryKey[0]).startsWith(prefix)),
      }),
    [client],
  );
}

/** The line a screen shows for a failed read: none when there is none or the session ended (the login shows). */
export const readProblem = (error: Error | null) => (error && !sessionEnded(error) ? messageOf(error) : null);
