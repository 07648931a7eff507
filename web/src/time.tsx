// Time ranges and times as the screens show them: in the browser's time zone, or the zone a screen
// lets the user choose.
import { useState } from "react";

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

/** The quick ranges offered. */
const PRESETS = [
  { label: "last hour", days: 1 / 24 },
  { label: "last 24 hours", days: 1 },
  { label: "last 7 days", days: 7 },
  { label: "last 30 days", days: 30 },
];

/** A range: a preset (`preset`, the one the screen starts with), or from and to in the browser's time zone. */
export function RangePicker({ range, preset, onChange }: { range: Range; preset?: string; onChange: (range: Range) => void }) {
  const [from, setFrom] = useState(localInput(range.from_ms));
  const [to, setTo] = useState(localInput(range.to_ms));
  const apply = (next: Range) => {
    setFrom(localInput(next.from_ms));
    setTo(localInput(next.to_ms));
    onChange(next);
  };
  return (
    <>
      <label>
        Period
        <select
          defaultValue={preset ?? ""}
          onChange={(e) => {
            const preset = PRESETS.find((p) => p.label === e.target.value);
            if (preset) apply(lastDays(preset.days));
          }}
        >
          <option value="">custom</option>
          {PRESETS.map((preset) => (
            <option key={preset.label}>{preset.label}</option>
          ))}
        </select>
      </label>
      <label>
        From
        <input
          type="datetime-local"
          value={from}
          onChange={(e) => setFrom(e.target.value)}
          onBlur={() => from && onChange({ ...range, from_ms: new Date(from).getTime() })}
        />
      </label>
      <label>
        To
        <input
          type="datetime-local"
          value={to}
          onChange={(e) => setTo(e.target.value)}
          onBlur={() => to && onChange({ ...range, to_ms: new Date(to).getTime() })}
        />
      </label>
    </>
  );
}

/** Formats `ms` in `zone` with `options`. */
export const inZone = (ms: number, zone: string, options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options }).format(new Date(ms));

/** `ms` as a date and time on the clock of `zone` (a schedule's, which its cron expression reads), then the zone's name. */
export const zonedTime = (ms: number, zone: string) => `${new Date(ms).toLocaleString(undefined, { timeZone: zone })} ${zone}`;
