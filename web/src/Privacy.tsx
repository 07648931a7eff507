// Privacy (admins; docs/privacy.md): erasure of a person or tracks with its preview and receipt, the
// deployment's retention settings, and the audit log of who exported, searched by face, changed a
// watchlist or erased, when, and how many items, filtered and downloadable as CSV.
import { useState } from "react";
import { type AuditRecords } from "./api";
import { ErrorLine } from "./forms";
import { readProblem, useApi } from "./data";
import { CardTable } from "./layout";
import { RangePicker, localTime, periodChanges, usePeriod } from "./time";
import { useQueryState } from "./url";
import { Erasure } from "./privacy/Erasure";
import { Retention } from "./privacy/Retention";

/** The kinds of action the filter offers (a kind is a prefix of the actions under it). */
const ACTIONS = [
  { key: "", label: "every action" },
  { key: "image", label: "looks at face images" },
  { key: "export", label: "exports (CSV, PDF, scheduled mails)" },
  { key: "search", label: "searches by face" },
  { key: "watchlist", label: "watchlist changes" },
  { key: "privacy", label: "erasures and retention runs" },
];

/** Erasure, retention and the audit log. */
export function Privacy() {
  // An erasure is recorded now: the log is opened again, so its period reaches the present.
  const [erasures, setErasures] = useState(0);
  return (
    <>
      <Erasure onErased={() => setErasures((count) => count + 1)} />
      <Retention />
      <AuditLog key={erasures} />
    </>
  );
}

/** The audit log. */
function AuditLog() {
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, "7d");
  const action = query.get("action") ?? "";
  const who = query.get("who") ?? "";
  const asked = new URLSearchParams({ from: String(period.range.from_ms), to: String(period.range.to_ms), limit: "1000" });
  if (action) asked.set("action", action);
  if (who) asked.set("who", who);
  const answer = useApi<AuditRecords>(`/v1/audit?${asked}`);
  const records = answer.isError ? null : (answer.data?.records ?? null);
  return (
    <section aria-labelledby="privacy-title">
      <h2 id="privacy-title">Audit log</h2>
      <p className="muted">
        Who looked at or changed biometric data: looks at face images (once per person and image in 10 minutes), searches by face, exports
        and scheduled mails, watchlist changes, erasures, retention runs. Records cannot be changed or deleted.
      </p>
      <form className="inline filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
        <RangePicker period={period} onChange={(next) => setQuery(periodChanges(next))} />
        <label>
          Action
          <select value={action} onChange={(e) => setQuery({ action: e.target.value })}>
            {ACTIONS.map((choice) => (
              <option key={choice.key} value={choice.key}>
                {choice.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Who
          <input value={who} placeholder="a username or token" onChange={(e) => setQuery({ who: e.target.value }, { replace: true })} />
        </label>
        <a className="button" href={`/api/v1/audit.csv?${asked}`} download>
          Download CSV
        </a>
      </form>
      <ErrorLine error={readProblem(answer.error)} />
      {records === null ? (
        !answer.error && <p className="loading">Loading…</p>
      ) : records.length === 0 ? (
        <p className="empty">No records match.</p>
      ) : (
        <>
          <p className="muted" data-testid="audit-count">
            {records.length === 1000
              ? "The latest 1000 records; narrow the period or download the CSV."
              : `${records.length} ${records.length === 1 ? "record" : "records"}, newest first`}
          </p>
          <CardTable aria-label="Audit records">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>Action</th>
                <th>What</th>
                <th>Items</th>
              </tr>
            </thead>
            <tbody>
              {records.map((record) => (
                <tr key={record.id}>
                  <td>{localTime(record.at_ms)}</td>
                  <td>
                    {record.who}{" "}
                    <span className="muted">
                      ({record.role}, {record.via})
                    </span>
                  </td>
                  <td>{record.action}</td>
                  <td className="url">{record.subject}</td>
                  <td>{record.count ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </CardTable>
        </>
      )}
    </section>
  );
}
