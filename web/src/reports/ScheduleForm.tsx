// The form that adds a report schedule: repeats from presets (or cron for experts), at a time, in a
// time zone, what and to whom.
import { useState } from "react";
import { type ReportSchedule, type Stream, type Watchlist, api } from "../api";
import { FieldProblem, useFormAction } from "../forms";
import { type Repeats, WEEKDAYS, cronOf, describeCron } from "./cron";

/** The browser's time zone, the form's first choice. */
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const SCHEDULE_FIELDS = ["name", "cron", "tz", "format", "range_hours", "recipients", "filters"];

interface ScheduleFormProps {
  streams: Stream[];
  lists: Watchlist[];
  onDone: (id?: string) => Promise<void>;
}

/** A new schedule; the service's refusal beside the field it names. */
export function ScheduleForm({ streams, lists, onDone }: ScheduleFormProps) {
  const [name, setName] = useState("");
  // When it runs: a preset at a time of day (cron made from them), or a cron expression for experts.
  const [repeats, setRepeats] = useState<Repeats>("weekdays");
  const [at, setAt] = useState("07:00");
  const [weekday, setWeekday] = useState("Mon");
  const [expert, setExpert] = useState("0 0 7 * * Mon-Fri");
  const cron = repeats === "cron" ? expert : cronOf(repeats, at, weekday);
  const [tz, setTz] = useState(browserZone);
  const [format, setFormat] = useState<"pdf" | "csv">("pdf");
  const [rangeHours, setRangeHours] = useState("24");
  const [recipients, setRecipients] = useState("");
  const [stream, setStream] = useState("");
  const [list, setList] = useState("");
  const [matched, setMatched] = useState(false);
  const { problem, submitting, busy } = useFormAction(SCHEDULE_FIELDS);
  const submit = submitting(async () => {
    const body = {
      name,
      cron,
      tz,
      format,
      range_hours: Number(rangeHours),
      recipients: recipients
        .split(",")
        .map((address) => address.trim())
        .filter(Boolean),
      filters: { stream: stream || undefined, list: list || undefined, matched },
    };
    const created = await api<ReportSchedule>("POST", "/v1/schedules", body);
    await onDone(created.id);
  });
  return (
    <section aria-labelledby="schedule-form-title">
      <h2 id="schedule-form-title">New schedule</h2>
      <form className="fields" onSubmit={submit} aria-label="New schedule">
        <label>
          Schedule name (the mail's subject)
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
          <FieldProblem problem={problem} field="name" />
        </label>
        <label>
          Repeats
          <select
            value={repeats}
            onChange={(e) => {
              const next = e.target.value as Repeats;
              if (next === "cron") setExpert(cron);
              // A weekly report covers the week; the others the day before.
              if (next !== "cron") setRangeHours(next === "weekly" ? "168" : "24");
              setRepeats(next);
            }}
          >
            <option value="daily">every day</option>
            <option value="weekdays">on weekdays (Monday to Friday)</option>
            <option value="weekly">once a week</option>
            <option value="cron">custom (cron expression)</option>
          </select>
          {repeats !== "cron" && <span className="muted">{describeCron(cron)}, in the time zone below</span>}
        </label>
        {repeats === "weekly" && (
          <label>
            On
            <select aria-label="Day of the week" value={weekday} onChange={(e) => setWeekday(e.target.value)}>
              {WEEKDAYS.map(([short, long]) => (
                <option key={short} value={short}>
                  {long}
                </option>
              ))}
            </select>
          </label>
        )}
        {repeats === "cron" ? (
          <label>
            Cron expression (seconds first: 0 0 7 * * Mon-Fri is 07:00 on weekdays)
            <input value={expert} onChange={(e) => setExpert(e.target.value)} />
            <FieldProblem problem={problem} field="cron" />
          </label>
        ) : (
          <label>
            At
            <input type="time" value={at} onChange={(e) => setAt(e.target.value)} required />
            <FieldProblem problem={problem} field="cron" />
          </label>
        )}
        <label>
          Time zone of the schedule and the report
          <input value={tz} onChange={(e) => setTz(e.target.value)} />
          <FieldProblem problem={problem} field="tz" />
        </label>
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as "pdf" | "csv")}>
            <option value="pdf">PDF summary</option>
            <option value="csv">CSV of every event</option>
          </select>
        </label>
        <label>
          Hours covered before each run
          <input type="number" value={rangeHours} onChange={(e) => setRangeHours(e.target.value)} />
          <FieldProblem problem={problem} field="range_hours" />
        </label>
        <label>
          Recipients (comma-separated)
          <input value={recipients} onChange={(e) => setRecipients(e.target.value)} autoComplete="off" />
          <FieldProblem problem={problem} field="recipients" />
        </label>
        <label>
          Stream
          <select value={stream} onChange={(e) => setStream(e.target.value)}>
            <option value="">every stream</option>
            {streams.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Watchlist
          <select value={list} onChange={(e) => setList(e.target.value)}>
            <option value="">any or none</option>
            {lists.map((l) => (
              <option key={l.id} value={l.id}>
                {l.name}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={matched} onChange={(e) => setMatched(e.target.checked)} />
          only identified people
        </label>
        <FieldProblem problem={problem} field={null} />
        <div className="buttons">
          <button type="submit" disabled={busy} aria-busy={busy}>
            Add schedule
          </button>
          <button type="button" className="secondary" onClick={() => void onDone()}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
