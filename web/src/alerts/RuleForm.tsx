// The form that adds or changes an alert rule.
import { useState } from "react";
import { type AlertRule, type Stream, type Watchlist, api } from "../api";
import { ConfirmAction, FieldProblem, useFormAction } from "../forms";

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
export function RuleForm({ rule, lists, streams, onDone }: RuleFormProps) {
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
