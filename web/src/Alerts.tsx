import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import {
  type Alert,
  type AlertRule,
  type AlertRules,
  type Alerts as AlertsPage,
  type LiveAlert,
  type Stream,
  type Watchlist,
  api,
} from "./api";
import { ConfirmAction, ErrorLine, FieldProblem, useFormAction } from "./forms";
import { streamName, useStreams, useWatchlists } from "./names";
import { CardTable, WithPanel } from "./layout";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";

/** Alerts kept on screen. */
const SHOWN = 50;

/** The latest alerts' path (and cache key). */
const ALERTS = `/v1/alerts?limit=${SHOWN}`;

const when = (ms: number) => new Date(ms).toLocaleString();

/** A live document as the alert list shows alerts (its deliveries are not known yet). */
function fromLive(document: LiveAlert): Alert {
  return {
    id: document.alert_id,
    rule_id: document.rule.id,
    rule_name: document.rule.name,
    stream_id: document.stream_id,
    site: document.site,
    track_id: document.track_id,
    event_id: document.event_id,
    list_id: document.list.id,
    list_name: document.list.name,
    person_id: document.person.id,
    person_external_id: document.person.external_id,
    person_display_name: document.person.display_name,
    similarity: document.similarity,
    first_seen_ms: document.first_seen_ms,
    capture_time_ms: document.capture_time_ms,
    raised_ms: document.raised_ms,
    has_best_shot: document.has_best_shot,
    deliveries: [],
  };
}

/** How often the list of alerts is read again, ms. */
const REFRESH_MS = 60_000;

/** The state of the live feed. */
type FeedState = "connecting" | "live" | "reconnecting" | "ended";

/**
 * Alerts: the live feed (new alerts appear as they are raised, with best shot, person, similarity
 * and camera), the latest alerts with their deliveries, and the rules (operators and admins change
 * them).
 */
export function Alerts() {
  const { manages } = useSession().can;
  // Read at once, then every minute, also in a background tab: deliveries change after an alert
  // arrives, and a screen a guard keeps open refreshes itself like the others, so its session lasts
  // while it is watched (the feed checks the session but does not count as activity).
  const answer = useApi<AlertsPage>(ALERTS, { refetchInterval: REFRESH_MS, refetchIntervalInBackground: true });
  const alerts = answer.data?.alerts ?? null;
  const error = readProblem(answer.error);
  const client = useQueryClient();
  const refresh = useRefresh();
  const loadAlerts = useCallback(() => refresh(ALERTS), [refresh]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [feed, setFeed] = useState<FeedState>("connecting");
  // Bumped to open the feed again after the notifier ended it while the session still works.
  const [feedGeneration, setFeedGeneration] = useState(0);
  const streams = useStreams();
  const lists = useWatchlists();

  // The live feed: each alert is put on top as it comes; its deliveries are read a moment later.
  useEffect(() => {
    const source = new EventSource("/api/v1/alerts/live");
    source.onopen = () => setFeed("live");
    source.onerror = () => setFeed("reconnecting");
    source.addEventListener("alert", (event) => {
      const alert = fromLive(JSON.parse((event as MessageEvent<string>).data) as LiveAlert);
      client.setQueryData<AlertsPage>([ALERTS], (current) => ({
        ...current,
        alerts: [alert, ...(current?.alerts ?? []).filter((a) => a.id !== alert.id)].slice(0, SHOWN),
      }));
      setFresh((current) => new Set(current).add(alert.id));
      // A camera added since the screen opened is named too.
      void refresh("/v1/streams");
      window.setTimeout(() => void loadAlerts(), 3000);
    });
    // Alerts missed while the browser lagged behind are in the list: read it again.
    source.addEventListener("lagged", () => void loadAlerts());
    // The notifier ended the feed (the session ended, lost the role, or could not be checked):
    // reading the list again takes an ended session back to the login or shows the refusal; a
    // session that still works gets the feed again a moment later.
    source.addEventListener("ended", () => {
      source.close();
      setFeed("ended");
      void loadAlerts().then(() => window.setTimeout(() => setFeedGeneration((n) => n + 1), 2000));
    });
    return () => source.close();
  }, [loadAlerts, client, refresh, feedGeneration]);

  const cameraOf = (id: string) => streamName(streams, id);

  return (
    <>
      <section aria-labelledby="alerts-title">
        <div className="title-row">
          <h2 id="alerts-title">Alerts</h2>
          <span className={`phase phase-${feed === "live" ? "running" : "reconnecting"}`} data-testid="feed">
            {feed === "live" ? "live" : feed}
          </span>
        </div>
        <ErrorLine error={error} />
        {alerts === null ? (
          <p className="loading">Loading…</p>
        ) : alerts.length === 0 ? (
          <p className="empty">No alerts yet. New ones appear here as they are raised.</p>
        ) : (
          <ul className="alerts">
            {alerts.map((alert) => (
              <li key={alert.id} className={fresh.has(alert.id) ? "fresh" : undefined} aria-label={`Alert: ${alert.person_display_name}`}>
                {alert.has_best_shot ? (
                  <img src={`/api/v1/alerts/${alert.id}/best-shot`} alt={`Best shot of ${alert.person_display_name}`} />
                ) : (
                  <div className="no-picture">no best shot</div>
                )}
                <div>
                  <strong>{alert.person_display_name}</strong>
                  {alert.person_external_id && <span className="muted"> {alert.person_external_id}</span>}
                  <div>
                    <span data-testid="similarity">similarity {alert.similarity.toFixed(2)}</span> on {alert.list_name}
                  </div>
                  <div>
                    <span data-testid="camera">{cameraOf(alert.stream_id)}</span>
                    {alert.site && <span className="muted"> ({alert.site})</span>}, {when(alert.capture_time_ms)}
                  </div>
                  <div className="muted">rule {alert.rule_name}</div>
                  <Deliveries alert={alert} />
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <Rules manages={manages} lists={lists} streams={streams} />
    </>
  );
}

/** Where an alert went: per channel, its state, attempts and last error. */
function Deliveries({ alert }: { alert: Alert }) {
  if (alert.deliveries.length === 0) return null;
  return (
    <ul className="deliveries" aria-label={`Deliveries of the alert on ${alert.person_display_name}`}>
      {alert.deliveries.map((delivery) => (
        <li key={delivery.channel}>
          {delivery.channel}: <span className={`delivery-${delivery.status}`}>{delivery.status}</span>
          {delivery.attempts > 1 && ` after ${delivery.attempts} attempts`}
          {delivery.last_error && <span className="error"> ({delivery.last_error})</span>}
        </li>
      ))}
    </ul>
  );
}

interface RulesProps {
  manages: boolean;
  lists: Watchlist[];
  streams: Stream[];
}

/** The alert rules; operators and admins add, change, enable and delete them. */
function Rules({ manages, lists, streams }: RulesProps) {
  const answer = useApi<AlertRules>("/v1/alert-rules");
  const rules: AlertRule[] = answer.data?.rules ?? [];
  const error = readProblem(answer.error);
  const [editing, setEditing] = useState<AlertRule | "new" | null>(null);
  const refresh = useRefresh();
  const load = useCallback(() => refresh("/v1/alert-rules"), [refresh]);

  const names = (ids: string[], of: { id: string; name: string }[]) =>
    ids.length === 0 ? "all" : ids.map((id) => of.find((item) => item.id === id)?.name ?? id).join(", ");
  const channels = (rule: AlertRule) =>
    [
      rule.channels.live && "live",
      rule.channels.kafka && "Kafka",
      rule.channels.email && `email ${rule.channels.email.to.join(", ")}`,
      rule.channels.webhook && `webhook ${rule.channels.webhook.url}`,
    ]
      .filter(Boolean)
      .join("; ");

  const close = useCallback(() => setEditing(null), []);
  return (
    <WithPanel
      panelKey={editing === null ? null : editing === "new" ? "new" : editing.id}
      onClose={close}
      panel={
        editing !== null && (
          <RuleForm
            key={editing === "new" ? "new" : editing.id}
            rule={editing === "new" ? null : editing}
            lists={lists}
            streams={streams}
            onDone={async () => {
              setEditing(null);
              await load();
            }}
          />
        )
      }
    >
      <section aria-labelledby="rules-title">
        <div className="title-row">
          <h2 id="rules-title">Alert rules</h2>
          {manages && editing === null && (
            <button type="button" onClick={() => setEditing("new")}>
              Add rule
            </button>
          )}
        </div>
        <ErrorLine error={error} />
        {rules.length === 0 ? (
          <p className="empty">No rules yet: no alert is raised.</p>
        ) : (
          <CardTable>
            <thead>
              <tr>
                <th>Name</th>
                <th>Lists</th>
                <th>Streams</th>
                <th>Lowest similarity</th>
                <th>Cooldown</th>
                <th>Channels</th>
                <th>State</th>
                {manages && <th />}
              </tr>
            </thead>
            <tbody>
              {rules.map((rule) => (
                <tr key={rule.id}>
                  <td>{rule.name}</td>
                  <td>{names(rule.list_ids, lists)}</td>
                  <td>{names(rule.stream_ids, streams)}</td>
                  <td>{rule.min_similarity || "the list's threshold"}</td>
                  <td>{rule.cooldown_secs} s</td>
                  <td>{channels(rule)}</td>
                  <td>{rule.enabled ? "enabled" : "disabled"}</td>
                  {manages && (
                    <td className="actions">
                      <button type="button" onClick={() => setEditing(rule)}>
                        Edit {rule.name}
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </CardTable>
        )}
      </section>
    </WithPanel>
  );
}

const RULE_FIELDS = [
  "name",
  "list_ids",
  "stream_ids",
  "min_similarity",
  "cooldown_secs",
  "channels",
  "channels.email.to",
  "channels.webhook.url",
  "channels.webhook.secret",
];

interface RuleFormProps {
  rule: AlertRule | null;
  lists: Watchlist[];
  streams: Stream[];
  onDone: () => Promise<void>;
}

/** Adds or changes a rule; the service's refusal beside the field it names. */
function RuleForm({ rule, lists, streams, onDone }: RuleFormProps) {
  const [name, setName] = useState(rule?.name ?? "");
  const [listIds, setListIds] = useState<string[]>(rule?.list_ids ?? []);
  const [streamIds, setStreamIds] = useState<string[]>(rule?.stream_ids ?? []);
  const [minSimilarity, setMinSimilarity] = useState(String(rule?.min_similarity ?? 0));
  const [cooldown, setCooldown] = useState(String(rule?.cooldown_secs ?? 300));
  const [live, setLive] = useState(rule?.channels.live ?? true);
  const [kafka, setKafka] = useState(rule?.channels.kafka ?? false);
  const [email, setEmail] = useState(rule?.channels.email?.to.join(", ") ?? "");
  const [webhookUrl, setWebhookUrl] = useState(rule?.channels.webhook?.url ?? "");
  const [webhookSecret, setWebhookSecret] = useState(rule?.channels.webhook?.secret ?? "");
  const [enabled, setEnabled] = useState(rule?.enabled ?? true);
  const { problem, run, submitting, busy } = useFormAction(RULE_FIELDS);
  const title = rule ? `Edit rule ${rule.name}` : "New rule";

  const submit = submitting(async () => {
    const to = email
      .split(",")
      .map((address) => address.trim())
      .filter(Boolean);
    const body = {
      name,
      list_ids: listIds,
      stream_ids: streamIds,
      sites: rule?.sites ?? [],
      min_similarity: Number(minSimilarity),
      cooldown_secs: Number(cooldown),
      channels: {
        live,
        kafka,
        email: to.length > 0 ? { to } : undefined,
        webhook: webhookUrl.trim() ? { url: webhookUrl.trim(), secret: webhookSecret } : undefined,
      },
      enabled,
    };
    if (rule) await api("PUT", `/v1/alert-rules/${rule.id}`, body);
    else await api("POST", "/v1/alert-rules", body);
    await onDone();
  });
  const remove = () =>
    run(async () => {
      if (!rule) return;
      await api("DELETE", `/v1/alert-rules/${rule.id}`);
      await onDone();
    });

  const toggle = (ids: string[], id: string) => (ids.includes(id) ? ids.filter((other) => other !== id) : [...ids, id]);
  return (
    <form className="fields" onSubmit={submit} aria-label={title}>
      <label>
        Rule name
        <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
        <FieldProblem problem={problem} field="name" />
      </label>
      <fieldset>
        <legend>Watchlists (none ticked: every list)</legend>
        {lists.map((list) => (
          <label key={list.id} className="check">
            <input type="checkbox" checked={listIds.includes(list.id)} onChange={() => setListIds(toggle(listIds, list.id))} />
            {list.name}
          </label>
        ))}
        <FieldProblem problem={problem} field="list_ids" />
      </fieldset>
      <fieldset>
        <legend>Streams (none ticked: every stream)</legend>
        {streams.map((stream) => (
          <label key={stream.id} className="check">
            <input type="checkbox" checked={streamIds.includes(stream.id)} onChange={() => setStreamIds(toggle(streamIds, stream.id))} />
            {stream.name}
          </label>
        ))}
        <FieldProblem problem={problem} field="stream_ids" />
      </fieldset>
      <label>
        Lowest similarity (0: the list's threshold decides)
        <input type="number" step="any" value={minSimilarity} onChange={(e) => setMinSimilarity(e.target.value)} />
        <FieldProblem problem={problem} field="min_similarity" />
      </label>
      <label>
        Cooldown per person and stream, seconds
        <input type="number" value={cooldown} onChange={(e) => setCooldown(e.target.value)} />
        <FieldProblem problem={problem} field="cooldown_secs" />
      </label>
      <fieldset>
        <legend>Channels</legend>
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />
          Live feed (this screen)
        </label>
        <label className="check">
          <input type="checkbox" checked={kafka} onChange={(e) => setKafka(e.target.checked)} />
          Kafka (the alerts topic)
        </label>
        <label>
          Email to (comma-separated)
          <input value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />
          <FieldProblem problem={problem} field="channels.email.to" />
        </label>
        <label>
          Webhook URL
          <input value={webhookUrl} onChange={(e) => setWebhookUrl(e.target.value)} autoComplete="off" />
          <FieldProblem problem={problem} field="channels.webhook.url" />
        </label>
        <label>
          Webhook secret (shown to admins only; leave *** to keep it)
          <input value={webhookSecret} onChange={(e) => setWebhookSecret(e.target.value)} autoComplete="off" />
          <FieldProblem problem={problem} field="channels.webhook.secret" />
        </label>
        <FieldProblem problem={problem} field="channels" />
      </fieldset>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        Enabled
      </label>
      <FieldProblem problem={problem} field={null} />
      <div className="buttons">
        <button type="submit" disabled={busy} aria-busy={busy}>
          {rule ? "Save rule" : "Add rule"}
        </button>
        <button type="button" className="secondary" onClick={() => void onDone()}>
          Cancel
        </button>
        {rule && <ConfirmAction ask="Delete…" confirm={`Delete ${rule.name} for good`} onConfirm={() => void remove()} />}
      </div>
    </form>
  );
}
