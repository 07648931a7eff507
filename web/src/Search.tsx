import { type DragEvent, useEffect, useEffectEvent, useState } from "react";
import { ApiError, type ExaminedPhoto, type FaceSearchAnswer, api } from "./api";
import { FramedFaces, choosable } from "./faces";
import { ErrorLine, useScreenError } from "./forms";
import { streamName, useStreams } from "./names";
import { RangePicker, localTime, periodChanges, usePeriod } from "./time";
import { AppLink } from "./layout";
import { useSession } from "./session";
import { navigate, useQueryState } from "./url";

/**
 * Search by face: a photo dropped or chosen (or a track's face) is described by the service and
 * compared with every face seen in the period (in a photo of several people, the face the user
 * chooses); the tracks where it was seen, most similar first, with their best shots, whom each was
 * identified as, and a link that opens the track. Every search is recorded for the audit trail, as the screen says.
 */
export function Search() {
  // The period and the track whose face is searched for (`event`, from a track's detail) are in the
  // address; a photo is not (it never leaves the browser except to the service).
  const [query, setQuery] = useQueryState();
  const period = usePeriod(query, "7d");
  const range = period.range;
  const eventId = query.get("event");
  const [threshold, setThreshold] = useState("");
  // The photo searched for, the faces the service found in it, and the one chosen in a group photo.
  const [photo, setPhoto] = useState<{ file: File; preview: string; examined: ExaminedPhoto | null; chosen: number | null } | null>(null);
  const [answer, setAnswer] = useState<FaceSearchAnswer | null>(null);
  const [searching, setSearching] = useState(false);
  const { error, fail, clear } = useScreenError();
  const streams = useStreams();
  const { administers } = useSession().can;
  useEffect(
    () => () => {
      if (photo) URL.revokeObjectURL(photo.preview);
    },
    [photo],
  );

  const search = async (body: { file?: File; event?: string; face?: number }) => {
    const query = new URLSearchParams({ from: String(range.from_ms), to: String(range.to_ms), limit: "50" });
    if (threshold.trim()) query.set("threshold", threshold.trim());
    if (body.event) query.set("event", body.event);
    if (body.face !== undefined) query.set("face", String(body.face));
    setSearching(true);
    clear();
    try {
      setAnswer(await api<FaceSearchAnswer>("POST", `/v1/search/faces?${query}`, body.file));
    } catch (caught) {
      setAnswer(null);
      fail(caught);
    } finally {
      setSearching(false);
    }
  };
  // Searched again only when another track's face is asked for, not when the period changes.
  const searchTrack = useEffectEvent((event: string) => void search({ event }));
  useEffect(() => {
    if (eventId) searchTrack(eventId);
  }, [eventId]);

  // A photo is examined first: its one face is searched for at once; in a photo of several people
  // the user chooses the face (as enrolment asks), and a photo with no usable face says why.
  const choose = async (file: File | undefined) => {
    if (!file) return;
    setPhoto({ file, preview: URL.createObjectURL(file), examined: null, chosen: null });
    setAnswer(null);
    setQuery({ event: null });
    clear();
    setSearching(true);
    let examined: ExaminedPhoto;
    try {
      examined = await api<ExaminedPhoto>("POST", "/v1/search/faces/examine", file);
    } catch (caught) {
      setSearching(false);
      fail(caught);
      return;
    }
    setSearching(false);
    setPhoto((current) => (current?.file === file ? { ...current, examined } : current));
    if (!examined.refusal) void search({ file });
    else if (!choosable(examined)) fail(new ApiError(422, examined.refusal));
  };
  const pick = (index: number) => {
    if (!photo) return;
    setPhoto({ ...photo, chosen: index });
    void search({ file: photo.file, face: index });
  };
  const drop = (event: DragEvent) => {
    event.preventDefault();
    void choose(event.dataTransfer.files[0]);
  };
  const cameraOf = (id: string) => streamName(streams, id);

  return (
    <section aria-labelledby="search-title">
      <h2 id="search-title">Search by face</h2>
      <p className="muted">Every search is recorded with who made it, for the audit trail.</p>
      <form className="inline" aria-label="Search" onSubmit={(event) => event.preventDefault()}>
        <RangePicker period={period} onChange={(next) => setQuery(periodChanges(next))} />
        <label>
          Lowest similarity (empty: the service's default)
          <input type="number" step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        </label>
      </form>
      <div className="dropzone" data-testid="dropzone" onDragOver={(event) => event.preventDefault()} onDrop={drop}>
        Drop a photo of the face to search for here, or{" "}
        <label className="file">
          choose a file
          <input type="file" accept="image/jpeg,image/png" onChange={(e) => void choose(e.target.files?.[0])} />
        </label>
        .
      </div>
      {photo && (
        <div className="searched">
          <FramedFaces
            src={photo.preview}
            alt="The photo searched with"
            name="the photo"
            examined={photo.examined}
            chosen={photo.chosen}
            onChoose={pick}
          />
          {choosable(photo.examined) && (
            <p className={photo.chosen === null ? "notice" : "muted"}>
              {photo.chosen === null
                ? `${photo.examined?.faces.length} faces found: choose the face to search for.`
                : `Searching for face ${photo.chosen + 1}; choose another to search for it instead.`}
            </p>
          )}
        </div>
      )}
      <ErrorLine error={error} />
      {searching && <p className="loading">Searching…</p>}
      {answer &&
        !searching &&
        (answer.tracks.length === 0 ? (
          <p className="empty">The face was not seen in this period.</p>
        ) : (
          <>
            {administers && (
              <p>
                <AppLink
                  to={`/privacy?${new URLSearchParams({ erase_tracks: answer.tracks.map((t) => `${t.stream_id}/${t.track_id}`).join(",") })}`}
                >
                  Erase these tracks…
                </AppLink>
              </p>
            )}
            <ol className="hits" aria-label="Tracks with the face">
              {answer.tracks.map((track) => (
                <li key={`${track.stream_id}/${track.track_id}`} aria-label={`Seen on ${cameraOf(track.stream_id)}`}>
                  {track.best_shot_url ? (
                    <img src={`/api${track.best_shot_url}`} alt={`Best shot on ${cameraOf(track.stream_id)}`} />
                  ) : (
                    <div className="no-picture">no best shot</div>
                  )}
                  <div>
                    <strong data-testid="similarity">similarity {track.similarity.toFixed(2)}</strong>
                    <div>
                      {cameraOf(track.stream_id)}
                      {track.site && <span className="muted"> ({track.site})</span>}
                    </div>
                    <div className="muted">
                      {localTime(track.first_ms)} to {localTime(track.last_ms)}, {track.sightings}{" "}
                      {track.sightings === 1 ? "sighting" : "sightings"}
                    </div>
                    <div data-testid="identified-as">
                      {track.matches.length === 0
                        ? "not identified"
                        : track.matches.map((m) => `${m.person_display_name} on ${m.list_name} (${m.similarity.toFixed(2)})`).join(", ")}
                    </div>
                    <a
                      href={`/tracks?track=${track.event_id}`}
                      onClick={(event) => {
                        event.preventDefault();
                        navigate(`/tracks?${new URLSearchParams({ track: track.event_id })}`);
                      }}
                    >
                      Open the track
                    </a>
                  </div>
                </li>
              ))}
            </ol>
          </>
        ))}
    </section>
  );
}
