// The deployment's privacy settings, read-only (admins): whether biometric fields travel sealed,
// where the key-encryption key comes from, and how long each class of data is kept (docs/privacy.md);
// the latest retention run, and a way to run it now.
import { useState } from "react";
import { type PrivacySettings, type RetentionRun, type RetentionRuns, api } from "../api";
import { readProblem, useApi, useRefresh } from "../data";
import { ConfirmAction, ErrorLine, useScreenError } from "../forms";
import { CardTable } from "../layout";
import { localTime } from "../time";

/** The classes of data, in the order a data-protection officer reads them, and what each holds. */
const CLASSES: { key: keyof PrivacySettings["retention"]; label: string; holds: string }[] = [
  { key: "face_images_unmatched_days", label: "Face images, no watchlist match", holds: "best shots, snapshots, alert scenes" },
  { key: "face_images_matched_days", label: "Face images, matched", holds: "best shots, snapshots, alert scenes" },
  { key: "descriptors_unmatched_days", label: "Face descriptors, no match", holds: "face templates" },
  { key: "descriptors_matched_days", label: "Face descriptors, matched", holds: "face templates" },
  { key: "identities_days", label: "Identities", holds: "matches: list, person, name, similarity" },
  { key: "track_metadata_days", label: "Track metadata", holds: "times, boxes, cameras; no biometrics" },
  { key: "aggregates_days", label: "Counts", holds: "hourly counts, analytics" },
  { key: "alerts_days", label: "Alerts", holds: "alerts, deliveries, the desk's log" },
  { key: "audit_days", label: "Audit log", holds: "who looked at or changed what" },
];

/** "7 days", "3 years". */
function period(days: number): string {
  if (days % 365 === 0) return `${days / 365} ${days === 365 ? "year" : "years"}`;
  return `${days} ${days === 1 ? "day" : "days"}`;
}

/** What a run expired, in a line. */
function expired(run: RetentionRun): string {
  if (run.outcome === "running") return "running…";
  if (run.outcome === "failed") return `failed: ${run.error ?? "no reason given"}`;
  const counts = run.counts as Record<string, number | string[]>;
  const count = (key: string) => (typeof counts[key] === "number" ? (counts[key] as number) : 0);
  const partitions = Array.isArray(counts.partitions) ? counts.partitions.length : 0;
  return (
    `${count("keys")} track keys destroyed, ${count("tracks")} tracks' faces deleted, ${partitions} warehouse partitions dropped, ` +
    `${count("alerts")} alerts and ${count("audit_records")} audit records deleted`
  );
}

/** The latest run, and a button to run retention now. */
function Runs() {
  const answer = useApi<RetentionRuns>("/v1/privacy/retention-runs");
  const refresh = useRefresh();
  const { error, fail, clear } = useScreenError();
  const [busy, setBusy] = useState(false);
  const last = answer.data?.runs[0];
  const runNow = async () => {
    setBusy(true);
    clear();
    try {
      await api<RetentionRun>("POST", "/v1/privacy/retention-runs");
      await refresh("/v1/privacy/retention-runs", "/v1/audit");
    } catch (caught) {
      fail(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="inline" data-testid="retention-runs">
      {/* A failed run leaves data past its period in place: said as a problem, not in passing. */}
      <p {...(last?.outcome === "failed" ? { className: "error", role: "alert" } : {})}>
        {last
          ? `Last run ${localTime(last.started_ms)} (${last.trigger === "schedule" ? "hourly" : `by ${last.trigger}`}): ${expired(last)}.`
          : answer.isLoading
            ? "Loading…"
            : "Retention has not run yet; it runs every hour."}
      </p>
      <ConfirmAction ask="Run retention now…" confirm="Expire what is past its period" onConfirm={() => void runNow()} busy={busy} />
      <ErrorLine error={error ?? readProblem(answer.error)} />
    </div>
  );
}

/** The settings, as set in every service's `[privacy]` section, and the runs. */
export function Retention() {
  const answer = useApi<PrivacySettings>("/v1/privacy/settings");
  const settings = answer.data;
  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">Retention</h2>
      <ErrorLine error={readProblem(answer.error)} />
      {!settings ? (
        !answer.error && <p className="loading">Loading…</p>
      ) : (
        <>
          <p className="muted" data-testid="sealing">
            {settings.seal
              ? "Face images, descriptors and names travel encrypted with a key per track; erasing a track destroys its key."
              : "Sealing is off: face images, descriptors and names travel in clear."}{" "}
            {settings.key_source === "development"
              ? "The key-encryption key is the published development key: it protects nothing."
              : "The key-encryption key comes from the deployment's secrets."}
          </p>
          <CardTable aria-label="Retention periods">
            <thead>
              <tr>
                <th>Data</th>
                <th>Holds</th>
                <th>Kept for</th>
              </tr>
            </thead>
            <tbody>
              {CLASSES.map((entry) => (
                <tr key={entry.key}>
                  <td>{entry.label}</td>
                  <td>{entry.holds}</td>
                  <td>{period(settings.retention[entry.key])}</td>
                </tr>
              ))}
            </tbody>
          </CardTable>
          <p className="muted">
            Set in the services' [privacy] settings; the same file for every service.{" "}
            <a href="/api/v1/privacy/records-of-processing" download data-testid="records-of-processing">
              Records of processing
            </a>{" "}
            (what is kept, where, for how long and who can read it, for your data-protection officer).
          </p>
          <Runs />
        </>
      )}
    </section>
  );
}
