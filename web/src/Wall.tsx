// The camera wall: every camera the user may see, each with its latest analysed frame (renewed as
// often as it is analysed, once a second), the names of identified people on their boxes, and its
// health in words. A control room's screen fills with as many columns as fit; a phone shows one.
import { keepPreviousData } from "@tanstack/react-query";
import { useMemo } from "react";
import { type EventsPage, type Stream } from "./api";
import { ErrorLine } from "./forms";
import { readProblem, useApi } from "./data";
import { siteNames } from "./names";
import { useSession } from "./session";
import { useQueryParam } from "./url";
import { CameraTile, type Identified } from "./wall/CameraTile";

/** How often the cameras' states are read again. */
const STATES_MS = 2000;

/** How often the names of the people in view are read again. */
const NAMES_MS = 2000;

/** How far back an identification names a track still in view: a person seen this long. */
const NAMES_WINDOW_MS = 30 * 60_000;

/**
 * Who the tracks seen lately are, by track id: each track's latest report with a watchlist match
 * (the query API), its best match. Nothing is read for a role that may not see people.
 */
function useIdentified(enabled: boolean): Map<string, Identified> {
  // The window's start moves on every half minute, so the request is the same between.
  const from = Math.floor(Date.now() / 30_000) * 30_000 - NAMES_WINDOW_MS;
  const events = useApi<EventsPage>(enabled ? `/v1/events?from=${from}&matched=true&limit=500` : null, {
    refetchInterval: NAMES_MS,
    refetchIntervalInBackground: true,
    placeholderData: keepPreviousData,
  });
  return useMemo(() => {
    const named = new Map<string, Identified>();
    for (const event of events.data?.events ?? []) {
      const best = event.matches[0];
      if (best && !named.has(event.track_id)) {
        named.set(event.track_id, { name: best.person_display_name, list: best.list_name, similarity: best.similarity });
      }
    }
    return named;
  }, [events.data]);
}

/** The camera wall. */
export function Wall() {
  const { seesPeople } = useSession().can;
  const list = useApi<Stream[]>("/v1/streams", { refetchInterval: STATES_MS, refetchIntervalInBackground: true });
  const [site, setSite] = useQueryParam("site");
  const identified = useIdentified(seesPeople);
  const streams = list.data ?? null;
  const shown = (streams ?? []).filter((stream) => !site || stream.site === site);
  return (
    <section aria-labelledby="wall-title">
      <div className="title-row">
        <h2 id="wall-title">Camera wall</h2>
        <label className="inline-label">
          Site{" "}
          <select value={site ?? ""} onChange={(e) => setSite(e.target.value || null)}>
            <option value="">every site</option>
            {siteNames(streams ?? []).map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorLine error={readProblem(list.error)} />
      {!seesPeople && (
        <p className="muted">
          Names are shown to analysts, operators and admins; frames only of cameras that show viewers faces blurred. Here is each camera's
          health.
        </p>
      )}
      {streams === null ? (
        !list.error && <p className="loading">Loading…</p>
      ) : shown.length === 0 ? (
        <p className="empty">{site ? `No camera on site ${site}.` : "No cameras yet. Operators add them on the Streams screen."}</p>
      ) : (
        <div className="wall">
          {shown.map((stream) => (
            <CameraTile key={stream.id} stream={stream} identified={identified} seesPeople={seesPeople} />
          ))}
        </div>
      )}
    </section>
  );
}
