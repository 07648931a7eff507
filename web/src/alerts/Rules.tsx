// The alert rules: which watchlist matches raise alerts and where they go. Operators and admins add,
// change and delete them; analysts read them.
import { useCallback, useState } from "react";
import { type AlertRule, type AlertRules, type Stream, type Watchlist } from "../api";
import { ErrorLine } from "../forms";
import { RuleForm } from "./RuleForm";
import { CardTable, WithPanel } from "../layout";
import { readProblem, useApi, useRefresh } from "../data";

export interface RulesProps {
  manages: boolean;
  lists: Watchlist[];
  streams: Stream[];
}

/** The alert rules; operators and admins add, change, enable and delete them. */
export function Rules({ manages, lists, streams }: RulesProps) {
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
