import { useCallback, useEffect, useState } from "react";
import { type Watchlist, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ErrorLine, FieldProblem, useFormAction } from "./forms";
import { CardTable, WIDE, WithPanel } from "./layout";
import { useQueryParam, useQueryState } from "./url";
import { PersonPage } from "./watchlists/PersonPage";
import { LIST_FIELDS, ListDetail } from "./watchlists/ListDetail";

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
  // A person's page is in the address too (`?list=…&person=…`).
  const [person] = useQueryParam("person");
  const [, setQuery] = useQueryState();
  const close = useCallback(() => setQuery({ list: null, person: null }), [setQuery]);
  return (
    <WithPanel
      panelKey={list ? `${list.id}/${person ?? ""}` : null}
      onClose={close}
      panel={
        list &&
        (person ? (
          <PersonPage key={person} list={list} personId={person} onChanged={load} />
        ) : (
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
        ))
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
