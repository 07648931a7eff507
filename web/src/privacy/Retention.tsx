// The deployment's privacy settings, read-only (admins): whether biometric fields travel sealed,
// where the key-encryption key comes from, and how long each class of data is kept (docs/privacy.md).
import { type PrivacySettings } from "../api";
import { readProblem, useApi } from "../data";
import { ErrorLine } from "../forms";
import { CardTable } from "../layout";

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

/** The settings, as set in every service's `[privacy]` section. */
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
          <p className="muted">Set in the services' [privacy] settings; the same file for every service.</p>
        </>
      )}
    </section>
  );
}
