import { useCallback } from "react";
import { type Role, type Token, type Tokens, type User, type Users, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ConfirmAction, ErrorLine, useScreenError } from "./forms";
import { CardTable } from "./layout";
import { RoleChange } from "./admin/RoleChange";
import { NewToken, NewUser } from "./admin/NewAccess";

const day = (ms: number | null | undefined) => (ms == null ? "never" : new Date(ms).toLocaleDateString());

/** Users and tokens: make users, change roles, disable and enable; issue tokens, revoke them. */
export function Admin() {
  // The admin's own account cannot be disabled or demoted here.
  const self = useSession().session.name;
  const usersAnswer = useApi<Users>("/v1/users");
  const tokensAnswer = useApi<Tokens>("/v1/tokens");
  const users: User[] = usersAnswer.data?.users ?? [];
  const tokens: Token[] = tokensAnswer.data?.tokens ?? [];
  const { error: actionError, fail, clear } = useScreenError();
  const error = actionError ?? readProblem(usersAnswer.error) ?? readProblem(tokensAnswer.error);
  const refresh = useRefresh();
  const load = useCallback(() => refresh("/v1/users", "/v1/tokens"), [refresh]);

  /** Sends one change, then shows the lists as they now are. */
  const apply = async (method: string, path: string, body?: unknown) => {
    clear();
    try {
      await api(method, path, body);
      await load();
    } catch (caught) {
      fail(caught);
    }
  };
  const change = (user: User, body: Partial<{ role: Role; disabled: boolean }>) => apply("PATCH", `/v1/users/${user.id}`, body);
  const revoke = (token: Token) => apply("DELETE", `/v1/tokens/${token.id}`);

  return (
    <>
      <ErrorLine error={error} />
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <CardTable>
          <thead>
            <tr>
              <th>Username</th>
              <th>Role</th>
              <th>State</th>
              <th>Sessions</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id}>
                <td>{user.username}</td>
                <td>
                  <RoleChange user={user} self={self} onChange={(role) => void change(user, { role })} />
                </td>
                <td>{user.disabled ? "disabled" : "active"}</td>
                <td>{user.active_sessions}</td>
                <td>
                  {user.username !== self &&
                    (user.disabled ? (
                      <button type="button" className="secondary" onClick={() => void change(user, { disabled: false })}>
                        Enable {user.username}
                      </button>
                    ) : (
                      <ConfirmAction
                        ask={`Disable ${user.username}…`}
                        confirm={`Disable ${user.username} and end their sessions`}
                        onConfirm={() => void change(user, { disabled: true })}
                      />
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </CardTable>
        <NewUser onCreated={load} />
      </section>
      <section aria-labelledby="tokens-title">
        <h2 id="tokens-title">Tokens for programs</h2>
        <CardTable>
          <thead>
            <tr>
              <th>Name</th>
              <th>Role</th>
              <th>State</th>
              <th>Issued</th>
              <th>Expires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.map((token) => (
              <tr key={token.id}>
                <td>{token.name}</td>
                <td>{token.role}</td>
                <td>{token.state}</td>
                <td>{day(token.created_ms)}</td>
                <td>{day(token.expires_ms)}</td>
                <td>
                  {token.state === "active" && (
                    <ConfirmAction
                      ask={`Revoke ${token.name}…`}
                      confirm={`Revoke ${token.name} for good`}
                      onConfirm={() => void revoke(token)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </CardTable>
        <NewToken onCreated={load} />
      </section>
    </>
  );
}
