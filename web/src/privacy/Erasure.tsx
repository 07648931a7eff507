// Erasure of a person or of tracks (admins; docs/privacy.md). What to erase arrives in the address:
// `erase_person` from a watchlist person's page, `erase_tracks` (stream_id/track_id, comma-separated)
// from a search by face, or typed here. The screen previews what goes, per store, asks why and for a
// confirmation, then shows the receipt the audit log keeps.
import { useEffect, useState } from "react";
import { type ErasureReport, type ErasureRequest, api } from "../api";
import { ConfirmAction, ErrorLine, FieldProblem, useFormAction, useScreenError } from "../forms";
import { CardTable } from "../layout";
import { useQueryState } from "../url";

/** The stores an erasure reaches, as the preview and the receipt count them. */
const STORES: { key: keyof ErasureReport["counts"]; label: string }[] = [
  { key: "tracks", label: "Tracks (their times and boxes still count)" },
  { key: "events", label: "Reports emptied of biometrics" },
  { key: "best_shots", label: "Best-shot images" },
  { key: "descriptors", label: "Face descriptors" },
  { key: "matches", label: "Watchlist matches" },
  { key: "alerts", label: "Alerts with their deliveries" },
  { key: "enrolments", label: "Watchlist enrolments with their photos" },
  { key: "keys", label: "Track keys destroyed (the copies on Kafka become unreadable)" },
];

/** The counts of `report`, a row per store. */
function Counts({ report, label }: { report: ErasureReport; label: string }) {
  return (
    <CardTable aria-label={label}>
      <thead>
        <tr>
          <th>What</th>
          <th>How many</th>
        </tr>
      </thead>
      <tbody>
        {STORES.map((store) => (
          <tr key={store.key}>
            <td>{store.label}</td>
            <td>{report.counts[store.key]}</td>
          </tr>
        ))}
      </tbody>
    </CardTable>
  );
}

/** The erasure named by the address, or a form to name tracks; `onErased` after an erasure. */
export function Erasure({ onErased }: { onErased: () => void }) {
  const [query, setQuery] = useQueryState();
  const person = query.get("erase_person");
  const name = query.get("erase_name");
  const tracks = (query.get("erase_tracks") ?? "").split(",").filter(Boolean);
  const named = person !== null || tracks.length > 0;
  const key = `${person ?? ""}|${tracks.join(",")}`;
  const [preview, setPreview] = useState<{ key: string; report: ErasureReport } | null>(null);
  const [receipt, setReceipt] = useState<ErasureReport | null>(null);
  const [reason, setReason] = useState("");
  const [typed, setTyped] = useState("");
  const { error, fail, clear } = useScreenError();
  const { problem, run, busy } = useFormAction(["reason"]);

  useEffect(() => {
    if (!named) return;
    let current = true;
    const request: ErasureRequest = { person_id: person, tracks };
    api<ErasureReport>("POST", "/v1/privacy/erasures/preview", request).then(
      (report) => current && setPreview({ key, report }),
      (caught: unknown) => current && fail(caught),
    );
    return () => {
      current = false;
    };
    // `key` stands for the person and the tracks.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, named, fail]);

  const done = (also: Record<string, string> = {}) => {
    setReceipt(null);
    setReason("");
    clear();
    setQuery({ erase_person: null, erase_name: null, erase_tracks: null, ...also });
  };

  if (receipt) {
    return (
      <section aria-labelledby="erasure-title">
        <h2 id="erasure-title">Erased</h2>
        <p role="status" data-testid="erasure-receipt">
          Receipt {receipt.receipt_id}: {name ? `${name} is` : "these tracks are"} erased. The audit log keeps this receipt with the reason.
        </p>
        <Counts report={receipt} label="Erased, per store" />
        <p>
          <button type="button" className="secondary" onClick={() => done({ action: "privacy" })}>
            Done: show erasures in the audit log
          </button>{" "}
          <button type="button" className="link" onClick={() => done()}>
            Done
          </button>
        </p>
      </section>
    );
  }

  if (!named) {
    return (
      <section aria-labelledby="erasure-title">
        <h2 id="erasure-title">Erase a person</h2>
        <p className="muted">
          Open a watchlist person's page and choose <em>Erase this person…</em>, or find someone on no list with a search by face and choose{" "}
          <em>Erase these tracks…</em>. Or name tracks here.
        </p>
        <form
          className="inline"
          aria-label="Tracks to erase"
          onSubmit={(event) => {
            event.preventDefault();
            const named = typed.split(/[\s,]+/).filter(Boolean);
            if (named.length > 0) setQuery({ erase_tracks: named.join(",") });
          }}
        >
          <label>
            Tracks (camera id/track id, one per line)
            <textarea rows={2} value={typed} onChange={(e) => setTyped(e.target.value)} />
          </label>
          <button type="submit" className="secondary" disabled={!typed.trim()}>
            Preview
          </button>
        </form>
      </section>
    );
  }

  const report = preview?.key === key ? preview.report : null;
  const erase = () =>
    void run(async () => {
      const request: ErasureRequest = { person_id: person, tracks, reason };
      setReceipt(await api<ErasureReport>("POST", "/v1/privacy/erasures", request));
      onErased();
    });
  return (
    <section aria-labelledby="erasure-title">
      <h2 id="erasure-title">{name ? `Erase ${name}` : `Erase ${tracks.length} ${tracks.length === 1 ? "track" : "tracks"}`}</h2>
      <ErrorLine error={error} />
      {!report ? (
        !error && <p className="loading">Counting what would be erased…</p>
      ) : (
        <>
          <p className="notice">
            This cannot be undone. Their face images, descriptors, matches and alerts go from every store; their tracks still count, without
            biometrics.
          </p>
          <Counts report={report} label="What will be erased" />
          <form className="inline" aria-label="Erasure" onSubmit={(event) => event.preventDefault()}>
            <label>
              Reason (kept in the audit log)
              <input
                value={reason}
                maxLength={500}
                placeholder="e.g. the data subject's request number"
                onChange={(e) => setReason(e.target.value)}
              />
              <FieldProblem problem={problem} field="reason" />
            </label>
            {reason.trim() ? (
              <ConfirmAction ask="Erase…" confirm="Erase for good" onConfirm={erase} busy={busy} />
            ) : (
              <button type="button" className="secondary" disabled>
                Erase…
              </button>
            )}
            <button type="button" className="link" onClick={() => done()}>
              Cancel
            </button>
          </form>
          <FieldProblem problem={problem} field={null} />
        </>
      )}
    </section>
  );
}
