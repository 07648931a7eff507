// Schedules' cron expressions (seconds first, as the scheduler reads them) made from presets and
// said in words.

/** How often a schedule runs, as the form offers it. */
export type Repeats = "daily" | "weekdays" | "weekly" | "cron";

export const WEEKDAYS = [
  ["Mon", "Monday"],
  ["Tue", "Tuesday"],
  ["Wed", "Wednesday"],
  ["Thu", "Thursday"],
  ["Fri", "Friday"],
  ["Sat", "Saturday"],
  ["Sun", "Sunday"],
] as const;

/** The scheduler's cron expression (seconds first) for a preset at `at` ("HH:MM") on `weekday`. */
export function cronOf(repeats: Exclude<Repeats, "cron">, at: string, weekday: string): string {
  const [hour, minute] = at.split(":").map((part) => Number(part));
  const days = repeats === "daily" ? "*" : repeats === "weekdays" ? "Mon-Fri" : weekday;
  return `0 ${minute || 0} ${hour || 0} * * ${days}`;
}

/**
 * A cron expression in words when it is one the presets make ("on weekdays at 07:00"); the
 * expression itself otherwise.
 */
export function describeCron(cron: string): string {
  const match = /^0 (\d{1,2}) (\d{1,2}) \* \* (\*|Mon-Fri|Mon|Tue|Wed|Thu|Fri|Sat|Sun)$/.exec(cron.trim());
  if (!match) return cron;
  const time = `${match[2].padStart(2, "0")}:${match[1].padStart(2, "0")}`;
  if (match[3] === "*") return `every day at ${time}`;
  if (match[3] === "Mon-Fri") return `on weekdays at ${time}`;
  const day = WEEKDAYS.find(([short]) => short === match[3])?.[1];
  return `every ${day} at ${time}`;
}
