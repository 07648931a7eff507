// The form that adds a stream or changes one, with the region of interest drawn on its last frame.
import { type PointerEvent, useRef, useState } from "react";
import { type Roi, type Stream, type StreamFields, api } from "../api";
import { ConfirmAction, FieldProblem, FormProblem, useFormAction } from "../forms";
import { localInput } from "../time";

/** A form's text fields: what the inputs hold (enabling is a button of its own). */
type TextField = Exclude<keyof StreamFields, "enabled" | PrivacyField>;

/** The privacy checkboxes. */
type PrivacyField = "count_only_unmatched_faces" | "blur_faces_for_viewers";

/** What the form holds: the text fields and the privacy checkboxes. */
type Draft = Record<TextField, string> & Record<PrivacyField, boolean>;

const NUMBER_FIELDS = ["analysis_fps", "face_min_score", "person_min_score"] as const;

function draftOf(stream: Stream | null): Draft {
  const roi = stream?.roi;
  return {
    name: stream?.name ?? "",
    source_url: stream?.source_url ?? "",
    site: stream?.site ?? "",
    analysis_fps: String(stream?.analysis_fps ?? 5),
    face_min_score: String(stream?.face_min_score ?? 0.8),
    person_min_score: String(stream?.person_min_score ?? 0.5),
    roi: roi ? `${roi.x}, ${roi.y}, ${roi.width}, ${roi.height}` : "",
    media_start_ms: stream?.media_start_ms != null ? localInput(stream.media_start_ms) : "",
    count_only_unmatched_faces: stream?.count_only_unmatched_faces ?? false,
    blur_faces_for_viewers: stream?.blur_faces_for_viewers ?? false,
  };
}

/** The region typed as "x, y, width, height"; null for the whole frame. */
function roiOf(text: string): Roi | null {
  if (text.trim() === "") return null;
  const numbers = text.split(",").map((part) => (part.trim() === "" ? Number.NaN : Number(part.trim())));
  if (numbers.length !== 4 || !numbers.every(Number.isFinite)) {
    throw new FormProblem("roi", "roi must be four numbers: x, y, width, height (fractions of the frame)");
  }
  return { x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3] };
}

/** The fields as the API takes them. */
function fieldsOf(draft: Draft): StreamFields {
  const fields: StreamFields = {
    name: draft.name,
    source_url: draft.source_url,
    site: draft.site,
    analysis_fps: 0,
    face_min_score: 0,
    person_min_score: 0,
    roi: roiOf(draft.roi),
    media_start_ms: draft.media_start_ms === "" ? null : new Date(draft.media_start_ms).getTime(),
    count_only_unmatched_faces: draft.count_only_unmatched_faces,
    blur_faces_for_viewers: draft.blur_faces_for_viewers,
  };
  for (const field of NUMBER_FIELDS) fields[field] = Number(draft[field]);
  return fields;
}

export interface StreamFormProps {
  /** The stream to change; null for a new one. */
  stream: Stream | null;
  /** After saving (with the stream's id) or cancelling (without). */
  onDone: (id?: string) => Promise<void>;
  onDeleted: () => Promise<void>;
}

/**
 * Adds a stream or changes one: a change sends only the fields that differ (a masked URL left as shown
 * keeps the stored one). The service's refusal appears beside the field it names.
 */
export function StreamForm({ stream, onDone, onDeleted }: StreamFormProps) {
  const original = draftOf(stream);
  const [draft, setDraft] = useState<Draft>(original);
  const title = stream ? `Edit ${stream.name}` : "New stream";
  const { problem, run, submitting, busy } = useFormAction(Object.keys(original));

  const submit = submitting(async () => {
    const fields = fieldsOf(draft);
    if (stream) {
      const before = fieldsOf(original);
      const changed = Object.fromEntries(
        (Object.keys(fields) as (keyof Draft)[])
          .filter((key) => JSON.stringify(fields[key]) !== JSON.stringify(before[key]))
          .map((key) => [key, fields[key]]),
      );
      await api("PATCH", `/v1/streams/${stream.id}`, changed);
      await onDone(stream.id);
    } else {
      const created = await api<Stream>("POST", "/v1/streams", fields);
      await onDone(created.id);
    }
  });

  const remove = () =>
    run(async () => {
      if (!stream) return;
      await api("DELETE", `/v1/streams/${stream.id}`);
      await onDeleted();
    });

  const input = (field: TextField, label: string, extra: { type?: string; step?: string; placeholder?: string } = {}) => (
    <label className={problem?.field === field ? "invalid" : undefined}>
      {label}
      <input
        value={draft[field]}
        onChange={(e) => setDraft({ ...draft, [field]: e.target.value })}
        aria-invalid={problem?.field === field}
        autoComplete="off"
        {...extra}
      />
      <FieldProblem problem={problem} field={field} />
    </label>
  );

  return (
    <section aria-labelledby="stream-form-title">
      <h2 id="stream-form-title">{title}</h2>
      <form className="fields" onSubmit={submit} aria-label={title}>
        {input("name", "Name")}
        {input("source_url", "Source URL", { placeholder: "rtsp://camera/stream" })}
        {input("site", "Site")}
        {input("analysis_fps", "Analysed frames per second", { type: "number" })}
        {input("face_min_score", "Minimum face score", { type: "number", step: "any" })}
        {input("person_min_score", "Minimum person score", { type: "number", step: "any" })}
        {input("roi", "Region of interest (x, y, width, height as fractions; empty: whole frame)", {
          placeholder: "0.1, 0.1, 0.8, 0.8",
        })}
        {stream?.state.snapshot && <RoiDrawer stream={stream} roi={draft.roi} onDraw={(roi) => setDraft({ ...draft, roi })} />}
        {input("media_start_ms", "For a file: when its first frame was taken (empty: from the file)", {
          type: "datetime-local",
        })}
        <label className="check">
          <input
            type="checkbox"
            checked={draft.count_only_unmatched_faces}
            onChange={(e) => setDraft({ ...draft, count_only_unmatched_faces: e.target.checked })}
          />
          Keep faces that match no watchlist as counts only (no face image or descriptor is kept)
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={draft.blur_faces_for_viewers}
            onChange={(e) => setDraft({ ...draft, blur_faces_for_viewers: e.target.checked })}
          />
          Show viewers this camera's frames with every face blurred (otherwise viewers see no frame)
        </label>
        <FieldProblem problem={problem} field={null} />
        <div className="buttons">
          <button type="submit" disabled={busy} aria-busy={busy}>
            {stream ? "Save" : "Add"}
          </button>
          <button type="button" className="secondary" onClick={() => void onDone()}>
            Cancel
          </button>
          {stream && <ConfirmAction ask="Delete…" confirm={`Delete ${stream.name} for good`} onConfirm={() => void remove()} />}
        </div>
      </form>
    </section>
  );
}

/** A fraction of the frame, kept to three decimals (a pixel of a 1000 px frame). */
const fraction = (value: number) => Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;

/** The region `text` names, or null when it names none (or is not four numbers yet). */
function shownRoi(text: string): Roi | null {
  try {
    return roiOf(text);
  } catch {
    return null;
  }
}

/**
 * The region of interest drawn with the mouse (or a finger) on the stream's last analysed frame: a
 * drag from one corner to the other writes it into the form as fractions of the frame; "Whole frame"
 * clears it. The frame shows the stored region in yellow; the one drawn here is outlined dashed.
 */
function RoiDrawer({ stream, roi, onDraw }: { stream: Stream; roi: string; onDraw: (roi: string) => void }) {
  const area = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  const capture = stream.state.snapshot?.capture_ms;
  const point = (event: PointerEvent) => {
    const box = area.current?.getBoundingClientRect();
    if (!box || box.width === 0 || box.height === 0) return null;
    return { x: fraction((event.clientX - box.left) / box.width), y: fraction((event.clientY - box.top) / box.height) };
  };
  const rectangle = (d: { x0: number; y0: number; x1: number; y1: number }): Roi => ({
    x: Math.min(d.x0, d.x1),
    y: Math.min(d.y0, d.y1),
    width: fraction(Math.abs(d.x1 - d.x0)),
    height: fraction(Math.abs(d.y1 - d.y0)),
  });
  const shown = drag ? rectangle(drag) : shownRoi(roi);
  return (
    <figure className="roi-drawer">
      <div
        ref={area}
        className="roi-area"
        onPointerDown={(event) => {
          const at = point(event);
          if (!at) return;
          event.currentTarget.setPointerCapture(event.pointerId);
          setDrag({ x0: at.x, y0: at.y, x1: at.x, y1: at.y });
        }}
        onPointerMove={(event) => {
          const at = point(event);
          if (drag && at) setDrag({ ...drag, x1: at.x, y1: at.y });
        }}
        onPointerUp={() => {
          if (!drag) return;
          const drawn = rectangle(drag);
          setDrag(null);
          // A click is not a region: a drag of at least 2 % of the frame each way is.
          if (drawn.width >= 0.02 && drawn.height >= 0.02)
            onDraw(`${fraction(drawn.x)}, ${fraction(drawn.y)}, ${drawn.width}, ${drawn.height}`);
        }}
      >
        <img
          src={`/api/v1/streams/${stream.id}/snapshot?at=${capture}`}
          alt={`Last analysed frame of ${stream.name}, to draw on`}
          draggable={false}
        />
        {shown && (
          <div
            className="roi-drawn"
            data-testid="roi-drawn"
            style={{
              left: `${shown.x * 100}%`,
              top: `${shown.y * 100}%`,
              width: `${shown.width * 100}%`,
              height: `${shown.height * 100}%`,
            }}
          />
        )}
      </div>
      <figcaption>
        Drag on the frame to draw the region of interest: only people inside it are analysed.{" "}
        <button type="button" className="link" onClick={() => onDraw("")}>
          Whole frame
        </button>
      </figcaption>
    </figure>
  );
}
