import { useCallback, useState } from "react";
import { type ReportDeliveries, type ReportDelivery, type ReportSchedule, type ReportSchedules, api } from "./api";
import { ConfirmAction, ErrorLine, useScreenError } from "./forms";
import { useStreams, useWatchlists } from "./names";
import { localTime, zonedTime } from "./time";
import { CardTable, WithPanel } from "./layout";
import { useQueryParam } from "./url";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { describeCron } from "./reports/cron";
import { ScheduleForm } from "./reports/ScheduleForm";

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
