import { keepPreviousData } from "@tanstack/react-query";
import { type DragEvent, useCallback, useEffect, useRef, useState } from "react";
import { type ExaminedPhoto, type ListedPerson, type Watchlist, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ConfirmAction, ErrorLine, FieldProblem, messageOf, useFormAction, useScreenError } from "./forms";
import { CardTable, WIDE, WithPanel } from "./layout";
import { useQueryParam } from "./url";
import { FramedFaces, choosable } from "./faces";

/**
 * Watchlists: their matching settings, the people on them with their pictures, search and, for
 * operators and admins, new lists, changed settings, enrolment by dropping photos (each photo's faces
 * shown back before anything is saved) and deletion.
 */
export function Watchlists() {
  const { manages } = useSession().can;
  const answer = useApi<Watchlist[]>("/v1/watchlists");
  const lists = answer.data ?? null;
  const error = readProblem(answer.error);
  const refresh = useRefresh();
  const load = useCallback(() => refresh("/v1/watchlists"), [refresh]);
  // The open list is in the address (`?list=`), so a reload, Back or a link shows it.
  const [selected, setSelected] = useQueryParam("list");
  // A wide screen shows the first list beside the others; a phone shows the lists first.
  const first = lists?.[0]?.id;
  useEffect(() => {
    if (first && !selected && window.matchMedia(WIDE).matches) setSelected(first, { replace: true });
  }, [first, selected, setSelected]);

  const list = lists?.find((candidate) => candidate.id === selected) ?? null;
  const close = useCallback(() => setSelected(null), [setSelected]);
  return (
    <WithPanel
      panelKey={list?.id ?? null}
      onClose={close}
      panel={
        list && (
          <ListDetail
            key={list.id}
            list={list}
            manages={manages}
            onChanged={load}
            onDeleted={async () => {
              setSelected(null);
              await load();
            }}
          />
        )
      }
    >
      <section aria-labelledby="lists-title">
        <h2 id="lists-title">Watchlists</h2>
        <ErrorLine error={error} />
        {lists === null ? (
          <p className="loading">Loading…</p>
        ) : lists.length === 0 ? (
          <p className="empty">No watchlists yet.</p>
        ) : (
          <CardTable>
            <thead>
              <tr>
                <th>Name</th>
                <th>Purpose</th>
                <th>Threshold</th>
                <th>Top k</th>
                <th>People</th>
              </tr>
            </thead>
            <tbody>
              {lists.map((candidate) => (
                <tr key={candidate.id} className={candidate.id === selected ? "selected" : undefined}>
                  <td>
                    <button type="button" className="link" onClick={() => setSelected(candidate.id)}>
                      {candidate.name}
                    </button>
                  </td>
                  <td>{candidate.purpose}</td>
                  <td>{candidate.threshold}</td>
                  <td>{candidate.top_k}</td>
                  <td>{candidate.persons}</td>
                </tr>
              ))}
            </tbody>
          </CardTable>
        )}
        {manages && (
          <NewList
            onCreated={async (id) => {
              setSelected(id);
              await load();
            }}
          />
        )}
      </section>
    </WithPanel>
  );
}

const LIST_FIELDS = ["name", "purpose", "threshold", "top_k"];

/** A new list's name, purpose and matching settings. */
function NewList({ onCreated }: { onCreated: (id: string) => Promise<void> }) {
  const [name, setName] = useState("");
  const [purpose, setPurpose] = useState("");
  const [threshold, setThreshold] = useState("0.5");
  const [topK, setTopK] = useState("1");
  const { problem, submitting, busy } = useFormAction(LIST_FIELDS);
  const submit = submitting(async () => {
    const body = { name, purpose, threshold: Number(threshold), top_k: Number(topK) };
    const created = await api<Watchlist>("POST", "/v1/watchlists", body);
    setName("");
    setPurpose("");
    await onCreated(created.id);
  });
  return (
    <form className="inline" onSubmit={submit} aria-label="New watchlist">
      <label>
        List name
        <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
        <FieldProblem problem={problem} field="name" />
      </label>
      <label>
        Purpose
        <input value={purpose} onChange={(e) => setPurpose(e.target.value)} autoComplete="off" />
      </label>
      <label>
        Threshold
        <input type="number" step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        <FieldProblem problem={problem} field="threshold" />
      </label>
      <label>
        Top k
        <input type="number" value={topK} onChange={(e) => setTopK(e.target.value)} />
        <FieldProblem problem={problem} field="top_k" />
      </label>
      <button type="submit" disabled={busy} aria-busy={busy}>
        Add list
      </button>
      <FieldProblem problem={problem} field={null} />
    </form>
  );
}

interface ListDetailProps {
  list: Watchlist;
  manages: boolean;
  onChanged: () => Promise<void>;
  onDeleted: () => Promise<void>;
}

/** One list: its settings (editable by managers), its people with search, and enrolment. */
function ListDetail({ list, manages, onChanged, onDeleted }: ListDetailProps) {
  const [search, setSearch] = useState("");
  const { error: actionError, fail, clear } = useScreenError();
  // Only the answer to the latest search is shown, whatever order answers arrive in (a key per
  // search); while it is on its way the previous answer stays, so typing does not blank the list.
  const found = useApi<ListedPerson[]>(`/v1/watchlists/${list.id}/persons?q=${encodeURIComponent(search)}`, {
    placeholderData: keepPreviousData,
  });
  const people = found.data ?? null;
  const error = actionError ?? readProblem(found.error);
  const refresh = useRefresh();
  const reload = useCallback(async () => {
    await Promise.all([refresh(`/v1/watchlists/${list.id}/persons`), onChanged()]);
  }, [refresh, list.id, onChanged]);

  const remove = async (person: ListedPerson) => {
    clear();
    try {
      await api("DELETE", `/v1/watchlists/${list.id}/persons/${person.id}`);
      await reload();
    } catch (caught) {
      fail(caught);
    }
  };

  return (
    <section aria-labelledby="list-title">
      <h2 id="list-title">{list.name}</h2>
      {manages && <ListSettings list={list} onChanged={onChanged} onDeleted={onDeleted} />}
      <h3>People</h3>
      <input
        type="search"
        className="search"
        aria-label={`Search ${list.name}`}
        placeholder="Search by name or external id"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      <ErrorLine error={error} />
      {people === null ? (
        <p className="loading">Loading…</p>
      ) : people.length === 0 ? (
        <p className="empty">{search ? "Nobody matches." : "Nobody on this list yet."}</p>
      ) : (
        <ul className="people">
          {people.map((person) => (
            <li key={person.id} aria-label={person.display_name}>
              {person.pictures > 0 ? (
                <img src={`/api/v1/watchlists/${list.id}/persons/${person.id}/picture`} alt={`Face of ${person.display_name}`} />
              ) : (
                <div className="no-picture">no picture</div>
              )}
              <strong>{person.display_name}</strong>
              {person.external_id && <span className="muted">{person.external_id}</span>}
              <span className="muted">
                {person.descriptors} {person.descriptors === 1 ? "photo" : "photos"}
              </span>
              {manages && (
                <button type="button" className="secondary" onClick={() => void remove(person)}>
                  Remove {person.display_name}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {manages && <Enrolment list={list} onEnrolled={reload} />}
    </section>
  );
}

/** A list's matching settings and its deletion. */
function ListSettings({ list, onChanged, onDeleted }: Omit<ListDetailProps, "manages">) {
  const [threshold, setThreshold] = useState(String(list.threshold));
  const [topK, setTopK] = useState(String(list.top_k));
  const [purpose, setPurpose] = useState(list.purpose);
  const [saved, setSaved] = useState(false);
  const { problem, run, submitting, busy } = useFormAction(LIST_FIELDS);
  const submit = submitting(async () => {
    setSaved(false);
    await api("PATCH", `/v1/watchlists/${list.id}`, { threshold: Number(threshold), top_k: Number(topK), purpose });
    await onChanged();
    setSaved(true);
  });
  return (
    <form className="inline" onSubmit={submit} aria-label={`Settings of ${list.name}`}>
      <label>
        Threshold (cosine similarity)
        <input type="number" step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        <FieldProblem problem={problem} field="threshold" />
      </label>
      <label>
        Top k (candidates per face)
        <input type="number" value={topK} onChange={(e) => setTopK(e.target.value)} />
        <FieldProblem problem={problem} field="top_k" />
      </label>
      <label>
        Purpose
        <input value={purpose} onChange={(e) => setPurpose(e.target.value)} />
        <FieldProblem problem={problem} field="purpose" />
      </label>
      <button type="submit" disabled={busy} aria-busy={busy}>
        Save settings
      </button>
      <ConfirmAction
        ask="Delete list…"
        confirm={`Delete ${list.name} and its people for good`}
        onConfirm={() =>
          void run(async () => {
            await api("DELETE", `/v1/watchlists/${list.id}`);
            await onDeleted();
          })
        }
      />
      {saved && <span className="notice">Saved.</span>}
      <FieldProblem problem={problem} field={null} />
    </form>
  );
}

/** A dropped photo, what enrolment found in it, and its preview's address. */
interface Candidate {
  file: File;
  preview: string;
  examined: ExaminedPhoto | null;
  /** Why it could not be examined. */
  failure: string | null;
  /** The face chosen in a photo with several (its index in `examined.faces`). */
  chosen: number | null;
}

/** Whether the person's face must be chosen among several in `candidate`'s photo. */
const mustChoose = (candidate: Candidate) => choosable(candidate.examined);

/** Whether enrolment takes `candidate`: its one face, or the face chosen among several. */
const takes = (candidate: Candidate) => candidate.examined !== null && (candidate.examined.refusal === null || candidate.chosen !== null);

/** The query choosing `candidate`'s face, if one was chosen. */
const faceQuery = (candidate: Candidate) => (candidate.chosen === null ? "" : `face=${candidate.chosen}`);

/**
 * Enrols one person from one or more photos: each photo dropped (or chosen) is examined by the
 * service and shown with the faces found; photos it would refuse are shown with the reason and left
 * out; the person is saved from the others.
 */
function Enrolment({ list, onEnrolled }: { list: Watchlist; onEnrolled: () => Promise<void> }) {
  const { endedBy } = useSession();
  const [name, setName] = useState("");
  const [externalId, setExternalId] = useState("");
  const [candidates, setCandidates] = useState<Candidate[]>([]);
  const [dragging, setDragging] = useState(false);
  const { problem, submitting, busy } = useFormAction(["display_name", "external_id"]);

  // Previews live as long as the form: their addresses are released when it goes.
  const previews = useRef<string[]>([]);
  useEffect(() => () => previews.current.forEach((preview) => URL.revokeObjectURL(preview)), []);

  const add = async (files: File[]) => {
    const added = files.map(
      (file) => ({ file, preview: URL.createObjectURL(file), examined: null, failure: null, chosen: null }) as Candidate,
    );
    previews.current.push(...added.map((candidate) => candidate.preview));
    setCandidates((current) => [...current, ...added]);
    for (const candidate of added) {
      let update: Partial<Candidate>;
      try {
        update = { examined: await api<ExaminedPhoto>("POST", "/v1/watchlists/faces", candidate.file) };
      } catch (caught) {
        if (endedBy(caught)) return;
        update = { failure: messageOf(caught) };
      }
      setCandidates((current) => current.map((c) => (c.preview === candidate.preview ? { ...c, ...update } : c)));
    }
  };
  const drop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void add(Array.from(event.dataTransfer.files));
  };

  const usable = candidates.filter(takes);
  const pending = candidates.some((c) => !c.examined && !c.failure);
  const submit = submitting(async () => {
    const [first, ...others] = usable;
    const query = [`display_name=${encodeURIComponent(name)}`, `external_id=${encodeURIComponent(externalId)}`, faceQuery(first)];
    const person = await api<ListedPerson>("POST", `/v1/watchlists/${list.id}/persons?${query.filter(Boolean).join("&")}`, first.file);
    for (const other of others) {
      const choice = faceQuery(other);
      await api("POST", `/v1/watchlists/${list.id}/persons/${person.id}/faces${choice ? `?${choice}` : ""}`, other.file);
    }
    setName("");
    setExternalId("");
    setCandidates([]);
    await onEnrolled();
  });

  return (
    <form className="enrol" onSubmit={submit} aria-label={`Enrol into ${list.name}`}>
      <h3>Enrol a person</h3>
      <div className="inline">
        <label>
          Display name
          <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
          <FieldProblem problem={problem} field="display_name" />
        </label>
        <label>
          External id
          <input value={externalId} onChange={(e) => setExternalId(e.target.value)} autoComplete="off" />
          <FieldProblem problem={problem} field="external_id" />
        </label>
      </div>
      <div
        className={dragging ? "dropzone dragging" : "dropzone"}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={drop}
      >
        Drop photos of this person here, or{" "}
        <label className="file">
          choose files
          <input
            type="file"
            accept="image/jpeg,image/png"
            multiple
            onChange={(e) => {
              void add(Array.from(e.target.files ?? []));
              e.target.value = "";
            }}
          />
        </label>
        . Each photo needs the person's face, large enough to describe; in a photo of several people, choose theirs.
      </div>
      {candidates.length > 0 && (
        <ul className="candidates">
          {candidates.map((candidate) => (
            <li key={candidate.preview} aria-label={`Photo ${candidate.file.name}`}>
              <FramedFaces
                src={candidate.preview}
                alt={candidate.file.name}
                name={candidate.file.name}
                examined={candidate.examined}
                chosen={candidate.chosen}
                onChoose={(index) => setCandidates((current) => current.map((c) => (c === candidate ? { ...c, chosen: index } : c)))}
              />
              <span className={takes(candidate) ? "verdict" : "verdict error"}>
                {candidate.failure ??
                  (candidate.examined === null
                    ? "Looking for faces…"
                    : candidate.chosen !== null
                      ? `Face ${candidate.chosen + 1} chosen; it will be enrolled.`
                      : mustChoose(candidate)
                        ? `${candidate.examined.faces.length} faces found: choose the person's face.`
                        : (candidate.examined.refusal ?? "One face found; it will be enrolled."))}
              </span>
              <button
                type="button"
                className="secondary"
                onClick={() => setCandidates((current) => current.filter((c) => c !== candidate))}
              >
                Leave out {candidate.file.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="buttons">
        <button type="submit" disabled={busy || pending || usable.length === 0 || name.trim() === ""}>
          Enrol {name.trim() || "person"} with {usable.length} {usable.length === 1 ? "photo" : "photos"}
        </button>
      </div>
      <FieldProblem problem={problem} field={null} />
    </form>
  );
}
