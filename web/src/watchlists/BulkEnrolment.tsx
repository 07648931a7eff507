// Enrolment of many people at once: a folder of photos (each file one person, named after the
// file) or photos with a CSV of names and files (`file,display_name,external_id`), each file's
// result shown as it comes.
import { useState } from "react";
import { type ListedPerson, type Watchlist, api } from "../api";
import { messageOf } from "../forms";
import { CardTable } from "../layout";
import { useSession } from "../session";

/** One person to enrol and what became of them. */
interface Row {
  /** The photo's file name (or the CSV's, when the photo is missing). */
  file: string;
  photo: File | null;
  name: string;
  externalId: string;
  /** waiting, enrolling, enrolled, refused or skipped. */
  status: "waiting" | "enrolling" | "enrolled" | "refused" | "skipped";
  message: string;
}

/** Photos enrolment reads. */
const isPhoto = (file: File) => /\.(jpe?g|png)$/i.test(file.name);

/** A person's name from a photo's file name: "barack_obama-2.jpg" is "barack obama 2". */
const nameOf = (file: string) =>
  file
    .replace(/\.[^.]+$/, "")
    .replace(/[_-]+/g, " ")
    .trim();

/** The fields of one CSV line (commas; double quotes around a field that holds one, "" for a quote). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === "," && !quoted) {
      fields.push(field.trim());
      field = "";
    } else {
      field += c;
    }
  }
  fields.push(field.trim());
  return fields;
}

/** The photo among `photos` that a CSV line names (by file name, or a path ending in it). */
const photoNamed = (photos: File[], name: string) =>
  photos.find((photo) => photo.name === name || photo.webkitRelativePath.endsWith(`/${name}`)) ?? null;

/** What enrolment will do with the chosen files: one row per person, the refusals known already. */
async function plan(files: File[], listed: ListedPerson[]): Promise<Row[]> {
  const photos = files.filter(isPhoto);
  const csv = files.find((file) => /\.csv$/i.test(file.name));
  const waiting = (photo: File | null, file: string, name: string, externalId: string): Row => ({
    file,
    photo,
    name,
    externalId,
    status: "waiting",
    message: "",
  });
  let rows: Row[];
  if (csv) {
    const lines = (await csv.text()).split(/\r?\n/).filter((line) => line.trim() !== "");
    const header = lines[0] ? csvFields(lines[0]).map((field) => field.toLowerCase()) : [];
    const named = header.includes("file");
    const column = (name: string, fallback: number) => (named ? header.indexOf(name) : fallback);
    const [fileAt, nameAt, externalAt] = [column("file", 0), column("display_name", 1), column("external_id", 2)];
    rows = lines.slice(named ? 1 : 0).map((line) => {
      const fields = csvFields(line);
      const file = fields[fileAt] ?? "";
      const row = waiting(
        photoNamed(photos, file),
        file,
        fields[nameAt] || nameOf(file),
        externalAt >= 0 ? (fields[externalAt] ?? "") : "",
      );
      if (!row.photo) return { ...row, status: "refused", message: `no photo named ${file || "(empty)"} among the files chosen` };
      return row;
    });
    const inCsv = new Set(rows.map((row) => row.photo));
    for (const photo of photos.filter((candidate) => !inCsv.has(candidate))) {
      rows.push({ ...waiting(photo, photo.name, "", ""), status: "skipped", message: `not in ${csv.name}` });
    }
  } else {
    rows = photos.map((photo) => waiting(photo, photo.name, nameOf(photo.name), ""));
  }
  // Someone already listed under the same external id is not enrolled twice (a run done again).
  return rows.map((row) => {
    const already = row.externalId && listed.find((person) => person.external_id === row.externalId);
    return row.status === "waiting" && already ? { ...row, status: "skipped", message: `already listed as ${already.display_name}` } : row;
  });
}

/** Enrols many people into `list`, showing each file's result. */
export function BulkEnrolment({ list, onEnrolled }: { list: Watchlist; onEnrolled: () => Promise<void> }) {
  const { endedBy } = useSession();
  const [rows, setRows] = useState<Row[]>([]);
  const [running, setRunning] = useState(false);
  const [done, setDone] = useState(false);

  const choose = async (files: FileList | null) => {
    setDone(false);
    const listed = await api<ListedPerson[]>("GET", `/v1/watchlists/${list.id}/persons`).catch(() => []);
    setRows(await plan([...(files ?? [])], listed));
  };
  const update = (index: number, change: Partial<Row>) =>
    setRows((current) => current.map((row, i) => (i === index ? { ...row, ...change } : row)));

  const enrol = async () => {
    setRunning(true);
    try {
      for (const [index, row] of rows.entries()) {
        if (row.status !== "waiting" || !row.photo) continue;
        update(index, { status: "enrolling" });
        const query = new URLSearchParams({ display_name: row.name, external_id: row.externalId });
        try {
          await api("POST", `/v1/watchlists/${list.id}/persons?${query}`, row.photo);
          update(index, { status: "enrolled", message: "" });
        } catch (caught) {
          if (endedBy(caught)) return;
          update(index, { status: "refused", message: messageOf(caught) });
        }
      }
      setDone(true);
      await onEnrolled();
    } finally {
      setRunning(false);
    }
  };

  const count = (status: Row["status"]) => rows.filter((row) => row.status === status).length;
  return (
    <section aria-labelledby="bulk-title" className="bulk">
      <h3 id="bulk-title">Enrol many people</h3>
      <p className="muted">
        A folder of photos, one person each, named after the file (<code>jane_doe.jpg</code> is “jane doe”); or photos with a CSV of{" "}
        <code>file,display_name,external_id</code>. Photos with no face or several are refused and listed; enrol those one by one above.
      </p>
      <div className="inline">
        <label>
          Photos and a CSV
          <input
            type="file"
            multiple
            accept="image/jpeg,image/png,.csv,text/csv"
            onChange={(e) => void choose(e.target.files)}
            disabled={running}
          />
        </label>
        <label>
          A folder
          <input
            type="file"
            multiple
            ref={(input) => input?.setAttribute("webkitdirectory", "")}
            onChange={(e) => void choose(e.target.files)}
            disabled={running}
          />
        </label>
      </div>
      {rows.length > 0 && (
        <>
          <CardTable aria-label="Files to enrol">
            <thead>
              <tr>
                <th>File</th>
                <th>Name</th>
                <th>External id</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, index) => (
                <tr key={`${row.file}/${index}`} aria-label={row.file}>
                  <td>{row.file}</td>
                  <td>{row.name}</td>
                  <td>{row.externalId}</td>
                  <td data-testid="bulk-result" className={row.status === "refused" ? "error" : undefined}>
                    {row.status}
                    {row.message && `: ${row.message}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </CardTable>
          <p role="status">
            {done
              ? `${count("enrolled")} enrolled, ${count("refused")} refused, ${count("skipped")} skipped.`
              : `${count("waiting")} to enrol, ${count("refused")} refused, ${count("skipped")} skipped.`}
          </p>
          {!done && (
            <button type="button" onClick={() => void enrol()} disabled={running || count("waiting") === 0} aria-busy={running}>
              Enrol {count("waiting")} {count("waiting") === 1 ? "person" : "people"}
            </button>
          )}
        </>
      )}
    </section>
  );
}
