import { useEffect, useState } from "react";
import { type Dwell, type Heatmap, type IdentifiedDays, type Timeline } from "./api";
import { ErrorLine } from "./forms";
import { readProblem, useApi } from "./data";
import { siteNames, useStreams } from "./names";
import { RangePicker, inZone, periodChanges, usePeriod } from "./time";
import { useQueryState } from "./url";

/** The zones offered first; any other IANA name can be typed. */
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const ZONES = [...new Set([browserZone, "UTC", "Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo"])];
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** Whether `name` is a time zone this browser knows (an IANA name such as "Europe/Berlin"). */
const isZone = (name: string) => {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: name });
    return name.trim() !== "";
  } catch {
    return false;
  }
};

const seconds = (ms: number | null | undefined) =>
  ms == null ? "–" : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;

/**
 * Analytics: face tracks per hour and per day (on a full time axis, empty hours and days shown),
 * distinct identified persons per day and in the period (a person counts once), how long
 * people stay (dwell distribution) and the hour-of-week heatmap, for a period and a site; every
 * chart in the time zone the user picks (days start at midnight there).
 */
export function Analytics() {
  // The period, site and zone are in the address (a reload, Back or a shared link shows the same charts).
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, "24h");
  const range = period.range;
  const zone = isZone(query.get("tz") ?? "") ? (query.get("tz") as string) : browserZone;
  const site = query.get("site") ?? "";
  // What is typed in the zone box; the charts follow it only while it names a zone, so a half-typed
  // name ("UT" on the way to "UTC") never reaches the charts (or the address).
  const [zoneTyped, setZoneTyped] = useState(zone);
  useEffect(() => setZoneTyped(zone), [zone]);
  const typeZone = (name: string) => {
    setZoneTyped(name);
    if (isZone(name)) setQuery({ tz: name === browserZone ? null : name }, { replace: true });
  };

  const streams = useStreams();
  const sites = siteNames(streams);
  const base = new URLSearchParams({ from: String(range.from_ms), to: String(range.to_ms) });
  if (site) base.set("site", site);
  const withZone = new URLSearchParams(base);
  withZone.set("tz", zone);
  const faceKind = new URLSearchParams(base);
  faceKind.set("kind", "face");
  const facesInZone = new URLSearchParams(withZone);
  facesInZone.set("kind", "face");
  const timeline = useApi<Timeline>(`/v1/stats/timeline?${base}&bucket=hour`);
  const identified = useApi<IdentifiedDays>(`/v1/stats/identified?${withZone}`);
  const dwell = useApi<Dwell>(`/v1/stats/dwell?${faceKind}`);
  const heatmap = useApi<Heatmap>(`/v1/stats/heatmap?${facesInZone}`);
  const error = [timeline, identified, dwell, heatmap].map((answer) => readProblem(answer.error)).find(Boolean) ?? null;
  // The charts only when every answer is in and none failed: no numbers from before beside an
  // error, where they would read as the answer to this question.
  const data =
    !error && timeline.data && identified.data && dwell.data && heatmap.data
      ? { timeline: timeline.data, identified: identified.data, dwell: dwell.data, heatmap: heatmap.data }
      : null;

  const faces = data?.timeline.buckets.filter((bucket) => bucket.kind === "face") ?? [];
  const faceTracks = faces.reduce((sum, bucket) => sum + bucket.tracks, 0);
  const identifiedTracks = faces.reduce((sum, bucket) => sum + bucket.matched, 0);
  // The full time axis: every hour and every day of the period, the empty ones too.
  const axis = fullAxis(range.from_ms, range.to_ms, zone);
  const tracksPerHour = new Map(faces.map((bucket) => [bucket.bucket_ms, bucket.tracks]));
  // Hourly counts summed per day in the zone (each track counts in the hour it was first seen).
  const tracksPerDay = new Map<string, number>(axis.days.map((day) => [day, 0]));
  for (const bucket of faces) {
    const day = dayLabel(bucket.bucket_ms, zone);
    tracksPerDay.set(day, (tracksPerDay.get(day) ?? 0) + bucket.tracks);
  }
  const personsPerDay = new Map<string, number>(axis.days.map((day) => [day, 0]));
  for (const day of data?.identified.per_day ?? []) personsPerDay.set(dayLabel(day.day_ms, zone), day.persons);
  return (
    <section aria-labelledby="analytics-title">
      <h2 id="analytics-title">Analytics</h2>
      <form className="inline" aria-label="Period, site and time zone" onSubmit={(event) => event.preventDefault()}>
        <RangePicker period={period} onChange={(next) => setQuery(periodChanges(next))} />
        <label>
          Site
          <select value={site} onChange={(e) => setQuery({ site: e.target.value })}>
            <option value="">every site</option>
            {sites.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <label className={zoneTyped === zone ? undefined : "invalid"}>
          Time zone
          <input list="zones" value={zoneTyped} aria-invalid={zoneTyped !== zone} onChange={(e) => typeZone(e.target.value)} />
          {zoneTyped !== zone && (
            <span className="error field-error" role="alert">
              not a time zone; the charts stay in {zone}
            </span>
          )}
          <datalist id="zones">
            {ZONES.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </label>
      </form>
      <ErrorLine error={error} />
      {data === null ? (
        !error && <p className="loading">Loading…</p>
      ) : (
        <>
          <div className="headline">
            <div>
              <span className="number" data-testid="face-tracks">
                {faceTracks}
              </span>
              face tracks
              <span className="muted">one per passage: a person who comes back is counted again</span>
            </div>
            <div>
              <span className="number" data-testid="identified-tracks">
                {identifiedTracks}
              </span>
              identified tracks
              <span className="muted">tracks a watchlist match named</span>
            </div>
            <div>
              <span className="number" data-testid="distinct-persons">
                {data.identified.persons}
              </span>
              distinct persons identified
              <span className="muted">each counted once in the period</span>
            </div>
            <div>
              <span className="number">{seconds(data.dwell.p50_ms)}</span>
              median time in view
            </div>
          </div>
          {axis.hours.length <= MAX_HOURS ? (
            <Bars
              title={`Face tracks per hour (${zone})`}
              rows={axis.hours.map((hour_ms) => ({
                label: inZone(hour_ms, zone, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }),
                value: tracksPerHour.get(hour_ms) ?? 0,
              }))}
            />
          ) : (
            <p className="muted">Face tracks per hour are shown for periods of up to three days.</p>
          )}
          <Bars title={`Face tracks per day (${zone})`} rows={[...tracksPerDay].map(([label, value]) => ({ label, value }))} />
          <Bars
            title={`Distinct persons identified per day (${zone})`}
            rows={[...personsPerDay].map(([label, value]) => ({ label, value }))}
          />
          <Bars
            title="Time in view"
            rows={data.dwell.histogram.map((bin) => ({
              label: bin.to_ms == null ? `over ${seconds(bin.from_ms)}` : `${seconds(bin.from_ms)} to ${seconds(bin.to_ms)}`,
              value: bin.tracks,
            }))}
          />
          <HeatmapGrid cells={data.heatmap.cells} zone={zone} />
        </>
      )}
    </section>
  );
}

/** The longest period whose hours get a chart of their own (three days). */
const MAX_HOURS = 72;

/** The day of `ms` in `zone`, as the charts name days. */
const dayLabel = (ms: number, zone: string) => inZone(ms, zone, { weekday: "short", day: "numeric", month: "short" });

/**
 * Every hour (its start, ms) that overlaps the range, and every day (its label in `zone`) those
 * hours fall on, in order: the charts' axes, with the hours and days where nothing was seen.
 */
function fullAxis(from_ms: number, to_ms: number, zone: string): { hours: number[]; days: string[] } {
  const hours: number[] = [];
  const days: string[] = [];
  for (let hour = Math.floor(from_ms / HOUR_MS) * HOUR_MS; hour < to_ms; hour += HOUR_MS) {
    hours.push(hour);
    const day = dayLabel(Math.max(hour, from_ms), zone);
    if (days[days.length - 1] !== day) days.push(day);
  }
  return { hours, days };
}

const HOUR_MS = 3_600_000;

/** A horizontal bar chart; its rows are also its accessible table. */
function Bars({ title, rows }: { title: string; rows: { label: string; value: number }[] }) {
  const max = Math.max(1, ...rows.map((row) => row.value));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {rows.length === 0 ? (
        <p className="empty">Nothing in this period.</p>
      ) : (
        <table aria-label={title}>
          <tbody>
            {rows.map((row) => (
              <tr key={row.label}>
                <th scope="row">{row.label}</th>
                <td className="bar-cell">
                  <span className="bar" style={{ width: `${(row.value / max) * 100}%` }} />
                </td>
                <td className="value">{row.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </figure>
  );
}

/** Arrivals by day of the week and hour in `zone`, darker for more. */
function HeatmapGrid({ cells, zone }: { cells: Heatmap["cells"]; zone: string }) {
  const max = Math.max(1, ...cells.map((cell) => cell.tracks));
  const at = (day: number, hour: number) => cells.find((c) => c.day_of_week === day && c.hour === hour)?.tracks ?? 0;
  return (
    <figure className="chart">
      <figcaption>Arrivals by hour of the week ({zone})</figcaption>
      {/* Twenty-four columns do not fit a phone: the grid scrolls within its frame, not the page. */}
      <div className="scroll-x">
        <table className="heatmap" aria-label={`Arrivals by hour of the week (${zone})`}>
          <thead>
            <tr>
              <th />
              {Array.from({ length: 24 }, (_, hour) => (
                <th key={hour}>{hour}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {DAYS.map((name, index) => (
              <tr key={name}>
                <th scope="row">{name}</th>
                {Array.from({ length: 24 }, (_, hour) => {
                  const tracks = at(index + 1, hour);
                  return (
                    <td key={hour} title={`${name} ${hour}:00: ${tracks}`} style={{ background: `rgba(29, 79, 145, ${tracks / max})` }}>
                      {tracks > 0 ? tracks : ""}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
