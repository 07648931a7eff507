// The app's one way to call the services: everything under /api on this origin, with the session
// cookie (sent by the browser) and, on changes, the session's CSRF token. The types of what the
// services take and answer are those of their OpenAPI documents (schemas/openapi/, generated from
// the services' code; web/src/generated/ is made from them by `npm run generate`).

import type { components as EnrichApi } from "./generated/enrich";
import type { components as IngestApi } from "./generated/ingest";
import type { components as NotifierApi } from "./generated/notifier";
import type { components as QueryApi } from "./generated/query";
import type { components as SchedulerApi } from "./generated/scheduler";

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
  let data: unknown;
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

/** A schema of the ingest API's document. */
type Ingest<Name extends keyof IngestApi["schemas"]> = IngestApi["schemas"][Name];
/** A schema of the watchlists (enrich) API's document. */
type Enrich<Name extends keyof EnrichApi["schemas"]> = EnrichApi["schemas"][Name];
/** A schema of the alerts (notifier) API's document. */
type Notifier<Name extends keyof NotifierApi["schemas"]> = NotifierApi["schemas"][Name];
/** A schema of the query API's document (accounts included). */
type Query<Name extends keyof QueryApi["schemas"]> = QueryApi["schemas"][Name];
/** A schema of the report schedules API's document. */
type Scheduler<Name extends keyof SchedulerApi["schemas"]> = SchedulerApi["schemas"][Name];

/** Who is logged in (GET /v1/auth/session; POST /v1/auth/login answers the same). */
export type Session = Query<"SessionView">;
/** A role. */
export type Role = Query<"Role">;
/** A user (GET /v1/users). */
export type User = Query<"UserInfo">;
/** The users (GET /v1/users). */
export type Users = Query<"Users">;
/** A bearer token, never its secret (GET /v1/tokens). */
export type Token = Query<"TokenInfo">;
/** The bearer tokens (GET /v1/tokens). */
export type Tokens = Query<"Tokens">;
/** A token just issued, with its secret (POST /v1/tokens). */
export type IssuedToken = Query<"IssuedToken">;

/** A region of interest, fractions of the frame. */
export type Roi = Ingest<"Roi">;
/** What a client sets of a stream (ingest's POST /v1/streams, PUT /v1/streams/{id}). */
export type StreamFields = Ingest<"StreamInput">;
/** A stream with its live state (ingest's GET /v1/streams). */
export type Stream = Ingest<"StreamView">;

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

/** A stream's last analysed frame with its boxes and their tracks (ingest's GET /v1/streams/{id}/frame). */
export type Frame = Ingest<"FrameView">;

/** A watchlist (enrich's GET /v1/watchlists). */
export type Watchlist = Enrich<"ListView">;
/** A listed person (enrich's GET /v1/watchlists/{id}/persons). */
export type ListedPerson = Enrich<"PersonView">;
/** A listed person with their list's name and the other lists that have them (enrich's GET /v1/watchlists/{id}/persons/{person}). */
export type PersonDetail = Enrich<"PersonDetail">;
/** Sightings per watchlist person (query's GET /v1/stats/persons). */
export type PersonCounts = Query<"PersonCounts">;
/** The faces enrolment finds in a photo (enrich's POST /v1/watchlists/faces). */
export type ExaminedPhoto = Enrich<"ExaminedPhoto">;

/** Where an alert went (notifier's GET /v1/alerts). */
export type Delivery = Notifier<"Delivery">;
/** An alert with its deliveries (notifier's GET /v1/alerts). */
export type Alert = Notifier<"AlertView">;
/** A page of alerts, how many the filters select and the next page's cursor (notifier's GET /v1/alerts). */
export type Alerts = Notifier<"Alerts">;
/** An alert with its deliveries, attempts and the desk's steps (notifier's GET /v1/alerts/{id}). */
export type AlertDetail = Notifier<"AlertDetail">;
/** An alert as the live feed sends it (`event: alert` on GET /v1/alerts/live), as webhooks get it. */
export type LiveAlert = Notifier<"AlertDocument">;
/** An alert rule (notifier's GET /v1/alert-rules); the webhook secret is `***` but for admins. */
export type AlertRule = Notifier<"AlertRule">;
/** The alert rules (notifier's GET /v1/alert-rules). */
export type AlertRules = Notifier<"Rules">;
/** An alert rule as sent (notifier's POST /v1/alert-rules, PUT /v1/alert-rules/{id}). */
export type RuleInput = Notifier<"RuleInput">;

/** A watchlist match of an event (query's GET /v1/events). */
export type EventMatch = Query<"MatchRow">;
/** A track's report as the query API shows it (GET /v1/events). */
export type EventView = Query<"EventView">;
/** One page of events (GET /v1/events). */
export type EventsPage = Query<"EventsPage">;
/** The audit log's records (query's GET /v1/audit). */
export type AuditRecords = Query<"AuditRecords">;
/** The deployment's privacy settings (query's GET /v1/privacy/settings). */
export type PrivacySettings = Query<"PrivacyView">;
/** The latest retention runs (query's GET /v1/privacy/retention-runs). */
export type RetentionRuns = Query<"RetentionRuns">;
/** One retention run. */
export type RetentionRun = Query<"RetentionRun">;
/** What an erasure would remove or removed, per store (query's POST /v1/privacy/erasures). */
export type ErasureReport = Query<"ErasureReport">;
/** What to erase: a watchlist person, tracks, or both, and why. */
export type ErasureRequest = Query<"ErasureRequest">;
/** What a face search found (query's POST /v1/search/faces). */
export type FaceSearchAnswer = Query<"FaceSearchAnswer">;
/** Tracks per bucket (GET /v1/stats/timeline). */
export type Timeline = Query<"Timeline">;
/** Identified persons per day and site (GET /v1/stats/identified). */
export type IdentifiedDays = Query<"IdentifiedDays">;
/** How long tracks stayed (GET /v1/stats/dwell). */
export type Dwell = Query<"Dwell">;
/** Arrivals by day of the week and hour (GET /v1/stats/heatmap). */
export type Heatmap = Query<"Heatmap">;

/** A scheduled report (scheduler's GET /v1/schedules). */
export type ReportSchedule = Scheduler<"Schedule">;
/** The scheduled reports (scheduler's GET /v1/schedules). */
export type ReportSchedules = Scheduler<"Schedules">;
/** A schedule as sent (scheduler's POST /v1/schedules). */
export type NewSchedule = Scheduler<"NewSchedule">;
/** One attempt to send a scheduled report (scheduler's GET /v1/schedules/{id}/deliveries). */
export type ReportDelivery = Scheduler<"Delivery">;
/** A schedule's latest deliveries (scheduler's GET /v1/schedules/{id}/deliveries). */
export type ReportDeliveries = Scheduler<"Deliveries">;
