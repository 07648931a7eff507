// What the screens' forms share: running a change, and the service's refusal shown beside the field it
// names (the services begin validation messages with the field) or below the form.
import { type FormEvent, useCallback, useRef, useState } from "react";
import { ApiError, fieldOf } from "./api";
import { useSession } from "./session";

/** The message of a failed call, for the line beside what asked. */
export const messageOf = (caught: unknown) => (caught instanceof ApiError ? caught.message : "The service could not be reached.");

/** A form's refusal: the field it names (null: the whole form) and its message. */
export type Problem = { field: string | null; message: string } | null;

/** A problem the form finds itself, before asking the service. */
export class FormProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A form's submit action: `run(work)` runs `work`, and a refusal (the service's, or a
 * [`FormProblem`]) becomes the form's `problem`, placed at the field of `fields` it names; a 401
 * brings the login back instead. While one run is in flight (`busy`) another is ignored, so a
 * double-click submits once.
 */
export function useFormAction(fields: string[] = []) {
  const { endedBy } = useSession();
  const [problem, setProblem] = useState<Problem>(null);
  const [busy, setBusy] = useState(false);
  const inFlight = useRef(false);
  const run = async (work: () => Promise<void>) => {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setProblem(null);
    try {
      await work();
    } catch (caught) {
      if (caught instanceof FormProblem) {
        setProblem({ field: caught.field, message: caught.message });
        return;
      }
      if (endedBy(caught)) return;
      const message = messageOf(caught);
      setProblem({ field: fieldOf(message, fields), message });
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };
  /** A submit handler running `work`. */
  const submitting = (work: () => Promise<void>) => (event: FormEvent) => {
    event.preventDefault();
    void run(work);
  };
  return { problem, run, submitting, busy };
}

/** The refusal, where it belongs: beside `field`, or (field null) below the form. */
export function FieldProblem({ problem, field }: { problem: Problem; field: string | null }) {
  return (
    problem &&
    problem.field === field && (
      <span className="error field-error" role="alert">
        {problem.message}
      </span>
    )
  );
}

/**
 * A screen's error line for its changes: `fail(caught)` shows why a call failed (a 401 brings the
 * login back instead), `clear()` hides it.
 */
export function useScreenError() {
  const { endedBy } = useSession();
  const [error, setError] = useState<string | null>(null);
  const fail = useCallback(
    (caught: unknown) => {
      if (!endedBy(caught)) setError(messageOf(caught));
    },
    [endedBy],
  );
  const clear = useCallback(() => setError(null), []);
  return { error, fail, clear };
}

/** The screen's error line, when there is an error. */
export function ErrorLine({ error }: { error: string | null }) {
  return (
    error && (
      <p className="error" role="alert">
        {error}
      </p>
    )
  );
}

/**
 * An action in two steps: `ask` first, then `confirm` (a red button) which runs `onConfirm`, or
 * Cancel; a slip of the mouse changes nothing. `label` names the first button for assistive
 * technology when `ask` alone is ambiguous in a list ("Delete…" on every row).
 */
export function ConfirmAction({
  ask,
  confirm,
  onConfirm,
  label,
  busy = false,
}: {
  ask: string;
  confirm: string;
  onConfirm: () => void;
  label?: string;
  busy?: boolean;
}) {
  const [confirming, setConfirming] = useState(false);
  return confirming ? (
    <span className="confirm">
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => {
          setConfirming(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" className="secondary" onClick={() => setConfirming(false)}>
        Cancel
      </button>
    </span>
  ) : (
    <button type="button" className="secondary" aria-label={label} disabled={busy} onClick={() => setConfirming(true)}>
      {ask}
    </button>
  );
}
