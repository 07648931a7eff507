// One alert as the desk lists it, its state on the desk and its deliveries (a failed one can be sent
// again from here).
import { type Alert, type AlertDetail, type Delivery, api } from "../api";
import { useFormAction } from "../forms";
import { localTime } from "../time";

/** Where an alert stands, in words: "new", "acknowledged by vera", "resolved by vera". */
export function StateBadge({ alert }: { alert: Alert }) {
  return (
    <span className={`alert-state alert-state-${alert.state}`} data-testid="alert-state">
      {alert.state}
      {alert.state !== "new" && alert.handled_by && ` by ${alert.handled_by}`}
    </span>
  );
}

/** The desk's steps on `alert`: POST /v1/alerts/{id}/actions; the answer is the alert as it now is. */
export const takeStep = (alert: Alert, action: "acknowledge" | "resolve" | "reopen", note = "") =>
  api<AlertDetail>("POST", `/v1/alerts/${alert.id}/actions`, { action, note });

/** Sends a failed delivery once more. */
export const sendAgain = (alert: Alert, delivery: Delivery) =>
  api<AlertDetail>("POST", `/v1/alerts/${alert.id}/deliveries/${delivery.channel}/retry`);

/** Where an alert went: per channel, its state, attempts and why it failed, with "Send again" when it did. */
export function Deliveries({ alert, onChanged }: { alert: Alert; onChanged: () => Promise<unknown> }) {
  const { problem, run, busy } = useFormAction();
  if (alert.deliveries.length === 0) return null;
  return (
    <>
      <ul className="deliveries" aria-label={`Deliveries of the alert on ${alert.person_display_name}`}>
        {alert.deliveries.map((delivery) => (
          <li key={delivery.channel}>
            {delivery.channel}: <span className={`delivery-${delivery.status}`}>{delivery.status}</span>
            {delivery.attempts > 1 && ` after ${delivery.attempts} attempts`}
            {delivery.last_error && <span className="error"> ({delivery.last_error})</span>}
            {delivery.status === "failed" && delivery.channel !== "live" && (
              <button
                type="button"
                className="secondary small"
                disabled={busy}
                aria-busy={busy}
                onClick={() =>
                  void run(async () => {
                    await sendAgain(alert, delivery);
                    await onChanged();
                  })
                }
              >
                Send {delivery.channel} again
              </button>
            )}
          </li>
        ))}
      </ul>
      {problem && (
        <p className="error" role="alert">
          {problem.message}
        </p>
      )}
    </>
  );
}

interface AlertCardProps {
  alert: Alert;
  camera: string;
  fresh: boolean;
  selected: boolean;
  onOpen: () => void;
  onChanged: () => Promise<unknown>;
}

/** An alert in the desk's list: best shot, who, where, when, its state, deliveries and the quick step. */
export function AlertCard({ alert, camera, fresh, selected, onOpen, onChanged }: AlertCardProps) {
  const { problem, run, busy } = useFormAction();
  const classes = [fresh && alert.state === "new" && "fresh", selected && "selected", `alert-${alert.state}`].filter(Boolean).join(" ");
  return (
    <li className={classes} aria-label={`Alert: ${alert.person_display_name}`}>
      {alert.has_best_shot ? (
        <img src={`/api/v1/alerts/${alert.id}/best-shot`} alt={`Best shot of ${alert.person_display_name}`} />
      ) : (
        <div className="no-picture">no best shot</div>
      )}
      <div>
        <div className="alert-head">
          <button type="button" className="link" onClick={onOpen} aria-label={`Open the alert on ${alert.person_display_name}`}>
            <strong>{alert.person_display_name}</strong>
          </button>
          {alert.person_external_id && <span className="muted"> {alert.person_external_id}</span>} <StateBadge alert={alert} />
        </div>
        <div>
          <span data-testid="similarity">similarity {alert.similarity.toFixed(2)}</span> on {alert.list_name}
        </div>
        <div>
          <span data-testid="camera">{camera}</span>
          {alert.site && <span className="muted"> ({alert.site})</span>}, {localTime(alert.capture_time_ms)}
        </div>
        <div className="muted">rule {alert.rule_name}</div>
        {alert.note && <div className="alert-note">“{alert.note}”</div>}
        <Deliveries alert={alert} onChanged={onChanged} />
        {alert.state === "new" && (
          <button
            type="button"
            disabled={busy}
            aria-busy={busy}
            onClick={() =>
              void run(async () => {
                await takeStep(alert, "acknowledge");
                await onChanged();
              })
            }
          >
            Acknowledge
          </button>
        )}
        {problem && (
          <p className="error" role="alert">
            {problem.message}
          </p>
        )}
      </div>
    </li>
  );
}
