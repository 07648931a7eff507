import { useCallback, useState } from "react";
import {
  type ReportDeliveries,
  type ReportDelivery,
  type ReportSchedule,
  type ReportSchedules,
  type Stream,
  type Watchlist,
  api,
} from "./api";
import { ConfirmAction, ErrorLine, FieldProblem, useFormAction, useScreenError } from "./forms";
import { useStreams, useWatchlists } from "./names";
import { localTime, zonedTime } from "./time";
import { CardTable, WithPanel } from "./layout";
import { useQueryParam } from "./url";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * Reports: the schedules that mail a PDF or CSV (when, in their time zone; what; to whom), each with
 * its deliveries; operators and admins add them, run one now and delete them. Any report can also be
 * downloaded here for the period it would cover.
 */
export function Reports() {
  const { manages } = useSession().can;
  // The open schedule is in the address (`?schedule=`), so a reload, Back or a link shows it.
  const [selected, setSelected] = useQueryParam("schedule");
  // While a schedule is open, its deliveries and the schedules (a run moves the next one) are read
  // every few seconds, so a run now shows up.
  const polling = { refetchInterval: selected ? 3000 : false } as const;
  const answer = useApi<ReportSchedules>("/v1/schedules", polling);
  const schedules = answer.data?.schedules ?? null;
  const delivered = useApi<ReportDeliveries>(selected ? `/v1/schedules/${selected}/deliveries` : null, polling);
  const deliveries: ReportDelivery[] = delivered.data?.deliveries ?? [];
  const [adding, setAdding] = useState(false);
  const { error: actionError, fail, clear } = useScreenError();
  const error = actionError ?? readProblem(answer.error) ?? readProblem(delivered.error);
  const streams = useStreams();
  const lists = useWatchlists();
  const refresh = useRefresh();
  const load = useCallback(() => refresh("/v1/schedules"), [refresh]);

  const act = async (method: string, path: string) => {
    clear();
    try {
      await api(method, path);
      await load();
    } catch (caught) {
      fail(caught);
    }
  };
  /** The report a schedule mails, for the period it would cover if it ran now. */
  const download = (schedule: ReportSchedule) => {
    const query = new URLSearchParams({ from: String(Date.now() - schedule.range_hours * 3_600_000), to: String(Date.now()) });
    for (const [key, value] of Object.entries(schedule.filters)) if (value) query.set(key, String(value));
    if (schedule.format === "pdf") query.set("tz", schedule.tz);
    return `/api/v1/reports/${schedule.format === "pdf" ? "summary.pdf" : "events.csv"}?${query}`;
  };
  const shown = schedules?.find((schedule) => schedule.id === selected) ?? null;

  const close = useCallback(() => {
    setAdding(false);
    setSelected(null);
  }, [setSelected]);
  return (
    <WithPanel
      panelKey={adding ? "new" : (shown?.id ?? null)}
      onClose={close}
      panel={
        adding ? (
          <ScheduleForm
            streams={streams}
            lists={lists}
            onDone={async (id) => {
              setAdding(false);
              if (id) setSelected(id);
              await load();
            }}
          />
        ) : (
          shown && (
            <section aria-labelledby="deliveries-title">
              <h2 id="deliveries-title">Deliveries of {shown.name}</h2>
              {deliveries.length === 0 ? (
                <p className="empty">Not sent yet.</p>
              ) : (
                <CardTable aria-label={`Deliveries of ${shown.name}`}>
                  <thead>
                    <tr>
                      <th>Due</th>
                      <th>Attempt</th>
                      <th>Sent</th>
                      <th>Outcome</th>
                      <th>Events</th>
                      <th>Size</th>
                    </tr>
                  </thead>
                  <tbody>
                    {deliveries.map((delivery) => (
                      <tr key={`${delivery.due_ms}/${delivery.attempt}`}>
                        <td>{localTime(delivery.due_ms)}</td>
                        <td>{delivery.attempt}</td>
                        <td>{localTime(delivery.finished_ms)}</td>
                        <td className={delivery.ok ? "delivery-delivered" : "delivery-failed"}>
                          {delivery.ok ? "sent" : `failed: ${delivery.error}`}
                        </td>
                        <td>{delivery.events}</td>
                        <td>{Math.ceil(delivery.bytes / 1024)} KiB</td>
                      </tr>
                    ))}
                  </tbody>
                </CardTable>
              )}
            </section>
          )
        )
      }
    >
      <section aria-labelledby="reports-title">
        <div className="title-row">
          <h2 id="reports-title">Scheduled reports</h2>
          {manages && !adding && (
            <button type="button" onClick={() => setAdding(true)}>
              Add schedule
            </button>
          )}
        </div>
        <ErrorLine error={error} />
        {schedules === null ? (
          <p className="loading">Loading…</p>
        ) : schedules.length === 0 ? (
          <p className="empty">No scheduled reports yet.</p>
        ) : (
          <CardTable>
            <thead>
              <tr>
                <th>Name</th>
                <th>When</th>
                <th>Format</th>
                <th>Covers</th>
                <th>To</th>
                <th>Next run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {schedules.map((schedule) => (
                <tr key={schedule.id} className={schedule.id === selected ? "selected" : undefined}>
                  <td>
                    <button type="button" className="link" onClick={() => setSelected(schedule.id)}>
                      {schedule.name}
                    </button>
                  </td>
                  <td>
                    {describeCron(schedule.cron) === schedule.cron ? <code>{schedule.cron}</code> : describeCron(schedule.cron)}{" "}
                    <span className="muted">({schedule.tz})</span>
                  </td>
                  <td>{schedule.format.toUpperCase()}</td>
                  <td>{schedule.range_hours} h</td>
                  <td>{schedule.recipients.join(", ")}</td>
                  <td>{schedule.enabled ? zonedTime(schedule.next_run_ms, schedule.tz) : "disabled"}</td>
                  <td className="actions">
                    <a className="button" href={download(schedule)} download aria-label={`Download ${schedule.name}`}>
                      Download
                    </a>
                    {manages && (
                      <>
                        <button
                          type="button"
                          aria-label={`Run ${schedule.name} now`}
                          onClick={() => void act("POST", `/v1/schedules/${schedule.id}/run`).then(() => setSelected(schedule.id))}
                        >
                          Run now
                        </button>
                        <ConfirmAction
                          ask="Delete…"
                          label={`Delete ${schedule.name}`}
                          confirm={`Delete ${schedule.name} for good`}
                          onConfirm={() => void act("DELETE", `/v1/schedules/${schedule.id}`)}
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </CardTable>
        )}
      </section>
    </WithPanel>
  );
}

/** How often a schedule runs, as the form offers it. */
type Repeats = "daily" | "weekdays" | "weekly" | "cron";

const WEEKDAYS = [
  ["Mon", "Monday"],
  ["Tue", "Tuesday"],
  ["Wed", "Wednesday"],
  ["Thu", "Thursday"],
  ["Fri", "Friday"],
  ["Sat", "Saturday"],
  ["Sun", "Sunday"],
] as const;

/** The scheduler's cron expression (seconds first) for a preset at `at` ("HH:MM") on `weekday`. */
function cronOf(repeats: Exclude<Repeats, "cron">, at: string, weekday: string): string {
  const [hour, minute] = at.split(":").map((part) => Number(part));
  const days = repeats === "daily" ? "*" : repeats === "weekdays" ? "Mon-Fri" : weekday;
  return `0 ${minute || 0} ${hour || 0} * * ${days}`;
}

/**
 * A cron expression in words when it is one the presets make ("on weekdays at 07:00"); the
 * expression itself otherwise.
 */
function describeCron(cron: string): string {
  const match = /^0 (\d{1,2}) (\d{1,2}) \* \* (\*|Mon-Fri|Mon|Tue|Wed|Thu|Fri|Sat|Sun)$/.exec(cron.trim());
  if (!match) return cron;
  const time = `${match[2].padStart(2, "0")}:${match[1].padStart(2, "0")}`;
  if (match[3] === "*") return `every day at ${time}`;
  if (match[3] === "Mon-Fri") return `on weekdays at ${time}`;
  const day = WEEKDAYS.find(([short]) => short === match[3])?.[1];
  return `every ${day} at ${time}`;
}

const SCHEDULE_FIELDS = ["name", "cron", "tz", "format", "range_hours", "recipients", "filters"];

interface ScheduleFormProps {
  streams: Stream[];
  lists: Watchlist[];
  onDone: (id?: string) => Promise<void>;
}

/** A new schedule; the service's refusal beside the field it names. */
function ScheduleForm({ streams, lists, onDone }: ScheduleFormProps) {
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
