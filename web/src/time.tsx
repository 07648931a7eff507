// Time ranges and times as the screens show them: in the browser's time zone, or the zone a screen
// lets the user choose.
import { useEffect, useMemo, useState } from "react";

/** A range of capture times, ms since the epoch. */
export interface Range {
  from_ms: number;
  to_ms: number;
}

/** The last `days` days up to now. */
export function lastDays(days: number): Range {
  const to_ms = Date.now();
  return { from_ms: to_ms - days * 86_400_000, to_ms };
}

/** `ms` in the browser's time zone, to the second. */
export const localTime = (ms: number) => new Date(ms).toLocaleString();

/** `ms` as a datetime-local input holds it (the browser's time zone, to the minute). */
export function localInput(ms: number): string {
  const offsetMs = new Date(ms).getTimezoneOffset() * 60_000;
  return new Date(ms - offsetMs).toISOString().slice(0, 16);
}

/** The quick ranges offered, by the key the address keeps (`period=24h`). */
const PRESETS = [
  { key: "1h", label: "last hour", days: 1 / 24 },
  { key: "24h", label: "last 24 hours", days: 1 },
  { key: "7d", label: "last 7 days", days: 7 },
  { key: "30d", label: "last 30 days", days: 30 },
];

/** The key of "any time" (`period=all`), offered by screens whose lists have no natural window (the alert desk). */
export const ANY_TIME = "all";

/** A screen's period: a preset counted back from when it was chosen (or the page loaded), or custom. */
export interface Period {
  range: Range;
  /** The preset's key (`ANY_TIME`: no bounds; the range is then from the epoch to now); undefined for a custom range. */
  preset: string | undefined;
}

/**
 * The period the address's `query` names: `from` and `to` (ms, a custom range), else `period` (a
 * preset's key), else `fallback`'s preset. A preset's range is counted back from the moment the
 * address first named it, so it stays put while the screen is open.
 */
export function usePeriod(query: URLSearchParams, fallback: string): Period {
  const from = Number(query.get("from"));
  const to = Number(query.get("to"));
  const custom = query.has("from") && query.has("to") && Number.isFinite(from) && Number.isFinite(to);
  const named = query.get("period");
  const key =
    PRESETS.some((preset) => preset.key === named) || (named === ANY_TIME && fallback === ANY_TIME) ? (named as string) : fallback;
  return useMemo(() => {
    if (custom) return { range: { from_ms: from, to_ms: to }, preset: undefined };
    if (key === ANY_TIME) return { range: { from_ms: 0, to_ms: Date.now() }, preset: ANY_TIME };
    const preset = PRESETS.find((candidate) => candidate.key === key) ?? PRESETS[1];
    return { range: lastDays(preset.days), preset: preset.key };
  }, [custom, from, to, key]);
}

/** The query's changes that name `period` (for `useQueryState`'s `change`). */
export function periodChanges(period: Period): Record<string, string | null> {
  return period.preset
    ? { period: period.preset, from: null, to: null }
    : { period: null, from: String(period.range.from_ms), to: String(period.range.to_ms) };
}

/**
 * A period: a preset, or from and to in the browser's time zone (a custom range); with `anyTime`,
 * also "any time" (then without from and to).
 */
export function RangePicker({
  period,
  onChange,
  anyTime = false,
}: {
  period: Period;
  onChange: (period: Period) => void;
  anyTime?: boolean;
}) {
  const { range } = period;
  const [from, setFrom] = useState(localInput(range.from_ms));
  const [to, setTo] = useState(localInput(range.to_ms));
  // The boxes follow the period when it changes from elsewhere (Back, a link, a preset).
  useEffect(() => {
    setFrom(localInput(range.from_ms));
    setTo(localInput(range.to_ms));
  }, [range.from_ms, range.to_ms]);
  const custom = (next: Range) => onChange({ range: next, preset: undefined });
  return (
    <>
      <label>
        Period
        <select
          value={period.preset ?? ""}
          onChange={(e) => {
            const preset = PRESETS.find((p) => p.key === e.target.value);
            if (preset) onChange({ range: lastDays(preset.days), preset: preset.key });
            else if (e.target.value === ANY_TIME) onChange({ range: { from_ms: 0, to_ms: Date.now() }, preset: ANY_TIME });
            else if (period.preset === ANY_TIME) onChange({ range: lastDays(1), preset: undefined });
          }}
        >
          {anyTime && <option value={ANY_TIME}>any time</option>}
          <option value="">custom</option>
          {PRESETS.map((preset) => (
            <option key={preset.key} value={preset.key}>
              {preset.label}
            </option>
          ))}
        </select>
      </label>
      {period.preset !== ANY_TIME && (
        <>
          <label>
            From
            <input
              type="datetime-local"
              value={from}
              onChange={(e) => setFrom(e.target.value)}
              onBlur={() => from && custom({ ...range, from_ms: new Date(from).getTime() })}
            />
          </label>
          <label>
            To
            <input
              type="datetime-local"
              value={to}
              onChange={(e) => setTo(e.target.value)}
              onBlur={() => to && custom({ ...range, to_ms: new Date(to).getTime() })}
            />
          </label>
        </>
      )}
    </>
  );
}

/** Formats `ms` in `zone` with `options`. */
export const inZone = (ms: number, zone: string, options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options }).format(new Date(ms));

/** `ms` as a date and time on the clock of `zone` (a schedule's, which its cron expression reads), then the zone's name. */
export const zonedTime = (ms: number, zone: string) => `${new Date(ms).toLocaleString(undefined, { timeZone: zone })} ${zone}`;
