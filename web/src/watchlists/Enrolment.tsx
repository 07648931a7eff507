// Enrolment of one person from one or more photos, each examined by the service and shown with the
// faces it found before anything is saved.
import { type DragEvent, useEffect, useRef, useState } from "react";
import { type ExaminedPhoto, type ListedPerson, type Watchlist, api } from "../api";
import { useSession } from "../session";
import { FieldProblem, messageOf, useFormAction } from "../forms";
import { FramedFaces, choosable } from "../faces";
import { PersonFields } from "./PersonFields";

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
export function Enrolment({ list, onEnrolled }: { list: Watchlist; onEnrolled: () => Promise<void> }) {
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
        <PersonFields name={name} externalId={externalId} onName={setName} onExternalId={setExternalId} problem={problem} />
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
