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

/**
 * Calls `path` (under /api) with `method` and an optional body: a file or blob is sent as it is (a
 * photo), anything else as JSON. The JSON answer.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const raw = body instanceof Blob;
  if (raw) headers["Content-Type"] = body.type || "application/octet-stream";
  else if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: raw ? body : body === undefined ? undefined : JSON.stringify(body),
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

/** A region of interest, fractions of the frame. */
export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What a client sets of a stream (ingest's POST /v1/streams, PATCH /v1/streams/{id}). */
export interface StreamFields {
  name: string;
  source_url: string;
  site: string;
  analysis_fps: number;
  face_min_score: number;
  person_min_score: number;
  roi: Roi | null;
  media_start_ms: number | null;
}

/** A stream with its live state (ingest's GET /v1/streams). */
export interface Stream extends StreamFields {
  id: string;
  enabled: boolean;
  finished_ms: number | null;
  state: {
    phase: string;
    fps?: number;
    frames?: number;
    frames_dropped?: number;
    last_error?: string | null;
    reconnects?: number;
    retry_in_ms?: number | null;
    /** The last analysed frame (GET /v1/streams/{id}/snapshot): when, and what it shows. */
    snapshot?: { capture_ms: number; faces: number; bodies: number } | null;
    events_delivered?: number;
    events_failed?: number;
    /** Why detections are not reaching Kafka, while they are not. */
    delivery_error?: string | null;
  };
}

/**
 * The field a service's validation message is about, of `fields`: the services begin such messages
 * with the field's name (`analysis_fps 40 must be ...`, `source_url: local files ...`), also after a
 * prefix such as `invalid JSON body: ...: roi: invalid type`.
 */
export function fieldOf(message: string, fields: string[]): string | null {
  for (const part of message.split(": ")) {
    // `channels.webhook.url` is about that field, else about `channels.webhook`, else `channels`.
    const path = part.split(/[\s:]/, 1)[0].split(".");
    for (let length = path.length; length > 0; length--) {
      const field = path.slice(0, length).join(".");
      if (fields.includes(field)) return field;
    }
  }
  return null;
}

/** A watchlist (enrich's GET /v1/watchlists). */
export interface Watchlist {
  id: string;
  name: string;
  purpose: string;
  threshold: number;
  top_k: number;
  stream_ids: string[];
  persons: number;
}

/** A listed person (enrich's GET /v1/watchlists/{id}/persons). */
export interface ListedPerson {
  id: string;
  list_id: string;
  external_id: string;
  display_name: string;
  descriptors: number;
  pictures: number;
}

/** The faces enrolment finds in a photo (enrich's POST /v1/watchlists/faces). */
export interface ExaminedPhoto {
  width: number;
  height: number;
  faces: { x: number; y: number; width: number; height: number; score: number; problem: string | null }[];
  /** Why enrolment would refuse the photo; null: it takes it. */
  refusal: string | null;
}

/** Where an alert went (notifier's GET /v1/alerts). */
export interface Delivery {
  channel: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_error: string | null;
  delivered_ms: number | null;
}

/** An alert (notifier's GET /v1/alerts). */
export interface Alert {
  id: string;
  rule_id: string;
  rule_name: string;
  stream_id: string;
  site: string;
  track_id: string;
  event_id: string;
  list_id: string;
  list_name: string;
  person_id: string;
  person_external_id: string;
  person_display_name: string;
  similarity: number;
  first_seen_ms: number;
  capture_time_ms: number;
  raised_ms: number;
  has_best_shot: boolean;
  deliveries: Delivery[];
}

/** An alert as the live feed sends it (`event: alert` on GET /v1/alerts/live), as webhooks get it. */
export interface LiveAlert {
  alert_id: string;
  rule: { id: string; name: string };
  person: { id: string; external_id: string; display_name: string };
  list: { id: string; name: string };
  similarity: number;
  stream_id: string;
  site: string;
  track_id: string;
  event_id: string;
  first_seen_ms: number;
  capture_time_ms: number;
  raised_ms: number;
  has_best_shot: boolean;
}

/** An alert rule (notifier's GET /v1/alert-rules); the webhook secret is `***` but for admins. */
export interface AlertRule {
  id: string;
  name: string;
  list_ids: string[];
  stream_ids: string[];
  sites: string[];
  min_similarity: number;
  cooldown_secs: number;
  channels: {
    webhook?: { url: string; secret: string };
    email?: { to: string[] };
    live: boolean;
    kafka: boolean;
  };
  enabled: boolean;
}

/** A watchlist match of an event (query's GET /v1/events). */
export interface EventMatch {
  list_id: string;
  list_name: string;
  person_id: string;
  person_external_id: string;
  person_display_name: string;
  similarity: number;
  rank: number;
}

/** A track's report as the query API shows it (GET /v1/events). */
export interface EventView {
  id: string;
  stream_id: string;
  site: string;
  kind: "face" | "body";
  capture_ms: number;
  track_id: string;
  quality: number;
  first_seen_ms: number;
  last_seen_ms: number;
  frame_count: number;
  best_shot_url: string | null;
  matches: EventMatch[];
}

/** What a face search found (query's POST /v1/search/faces). */
export interface FaceSearchAnswer {
  from_ms: number;
  to_ms: number;
  threshold: number;
  tracks: {
    stream_id: string;
    track_id: string;
    site: string;
    similarity: number;
    event_id: string;
    first_ms: number;
    last_ms: number;
    sightings: number;
    best_shot_url: string | null;
  }[];
}

/** A scheduled report (scheduler's GET /v1/schedules). */
export interface ReportSchedule {
  id: string;
  name: string;
  cron: string;
  tz: string;
  format: "pdf" | "csv";
  range_hours: number;
  filters: Record<string, string | boolean | undefined>;
  recipients: string[];
  enabled: boolean;
  next_run_ms: number;
}

/** One attempt to send a scheduled report (scheduler's GET /v1/schedules/{id}/deliveries). */
export interface ReportDelivery {
  due_ms: number;
  attempt: number;
  finished_ms: number;
  ok: boolean;
  events: number;
  bytes: number;
  error: string;
}
