// One watchlist: its settings (editable by managers), its people with search, each opening their
// page, and enrolment (one person from photos, or many from a folder or a CSV).
import { keepPreviousData } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { type ListedPerson, type Watchlist, api } from "../api";
import { readProblem, useApi, useRefresh } from "../data";
import { ConfirmAction, ErrorLine, FieldProblem, useFormAction, useScreenError } from "../forms";
import { useQueryParam } from "../url";
import { BulkEnrolment } from "./BulkEnrolment";
import { Enrolment } from "./Enrolment";

/** The fields of a list's form, as the service names them. */
export const LIST_FIELDS = ["name", "purpose", "threshold", "top_k"];

export interface ListDetailProps {
  list: Watchlist;
  manages: boolean;
  onChanged: () => Promise<void>;
  onDeleted: () => Promise<void>;
}

/** One list: its settings (editable by managers), its people with search, and enrolment. */
export function ListDetail({ list, manages, onChanged, onDeleted }: ListDetailProps) {
  const [search, setSearch] = useState("");
  const [, setPerson] = useQueryParam("person");
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
              <button type="button" className="link" onClick={() => setPerson(person.id)} aria-label={`Open ${person.display_name}'s page`}>
                <strong>{person.display_name}</strong>
              </button>
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
      {manages && <BulkEnrolment list={list} onEnrolled={reload} />}
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
