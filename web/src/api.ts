// The app's one way to call the services: everything under /api on this origin, with the session
// cookie (sent by the browser) and, on changes, the session's CSRF token.

/** An answer other than 2xx: its status and the service's `error` message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

/** Remembers the CSRF token of the current session (from login or GET /v1/auth/session). */
export function rememberCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Calls `path` (under /api) with `method` and an optional JSON body; the JSON answer. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data as { error?: string } | null)?.error ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data as T;
}

/** Who is logged in (GET /v1/auth/session). */
export interface Session {
  name: string;
  role: "admin" | "operator" | "analyst" | "viewer";
  via: "session" | "token";
  csrf_token: string | null;
  expires_ms: number | null;
}

/** A stream with its live state (ingest's GET /v1/streams). */
export interface Stream {
  id: string;
  name: string;
  source_url: string;
  site: string;
  analysis_fps: number;
  enabled: boolean;
  state: {
    phase: string;
    fps?: number;
    last_error?: string | null;
    reconnects?: number;
    retry_in_ms?: number | null;
  };
}
