import { useCallback, useState } from "react";
import { type IssuedToken, type Role, type Token, type Tokens, type User, type Users, api } from "./api";
import { readProblem, useApi, useRefresh } from "./data";
import { useSession } from "./session";
import { ConfirmAction, ErrorLine, FieldProblem, useFormAction, useScreenError } from "./forms";
import { CardTable } from "./layout";

const ROLES: Role[] = ["viewer", "analyst", "operator", "admin"];

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

/**
 * A user's role: picking another one asks first ("Make vera analyst" or Cancel), since a role decides
 * what the person may see; the admin's own role cannot be changed here.
 */
function RoleChange({ user, self, onChange }: { user: User; self: string; onChange: (role: Role) => void }) {
  const [picked, setPicked] = useState<Role | null>(null);
  return (
    <span className="confirm">
      <select
        aria-label={`Role of ${user.username}`}
        value={picked ?? user.role}
        disabled={user.username === self}
        onChange={(e) => {
          const role = e.target.value as Role;
          setPicked(role === user.role ? null : role);
        }}
      >
        {ROLES.map((role) => (
          <option key={role}>{role}</option>
        ))}
      </select>
      {picked && (
        <>
          <button
            type="button"
            className="danger"
            onClick={() => {
              setPicked(null);
              onChange(picked);
            }}
          >
            Make {user.username} {picked}
          </button>
          <button type="button" className="secondary" onClick={() => setPicked(null)}>
            Cancel
          </button>
        </>
      )}
    </span>
  );
}

interface NewProps {
  onCreated: () => Promise<void>;
}

/** A role picker for a new user or token. */
function RolePicker({ role, onChange }: { role: Role; onChange: (role: Role) => void }) {
  return (
    <label>
      Role
      <select value={role} onChange={(e) => onChange(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
    </label>
  );
}

/** The form for a new user: the service's refusal (a taken name, a short password) shown beside it. */
function NewUser(props: NewProps) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("analyst");
  const { problem, submitting, busy } = useFormAction();
  const submit = submitting(async () => {
    await api("POST", "/v1/users", { username, password, role });
    setUsername("");
    setPassword("");
    await props.onCreated();
  });

  return (
    <form className="inline" onSubmit={submit} aria-label="New user">
      <label>
        New username
        <input value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="off" />
      </label>
      <label>
        Password
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required autoComplete="new-password" />
      </label>
      <RolePicker role={role} onChange={setRole} />
      <button type="submit" disabled={busy} aria-busy={busy}>
        Add user
      </button>
      <FieldProblem problem={problem} field={null} />
    </form>
  );
}

/** The form for a new token; the secret is shown once, here. */
function NewToken(props: NewProps) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [days, setDays] = useState("90");
  const [issued, setIssued] = useState<string | null>(null);
  const { problem, submitting, busy } = useFormAction();
  const submit = submitting(async () => {
    const body = { name, role, expires_in_days: days === "" ? undefined : Number(days) };
    const answer = await api<IssuedToken>("POST", "/v1/tokens", body);
    setIssued(answer.token);
    setName("");
    await props.onCreated();
  });

  return (
    <form className="inline" onSubmit={submit} aria-label="New token">
      <label>
        Token name
        <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
      </label>
      <RolePicker role={role} onChange={setRole} />
      <label>
        Days valid (empty: never expires)
        <input value={days} onChange={(e) => setDays(e.target.value)} inputMode="numeric" />
      </label>
      <button type="submit" disabled={busy} aria-busy={busy}>
        Issue token
      </button>
      <FieldProblem problem={problem} field={null} />
      {issued && (
        <p className="secret">
          Copy it now; it is not shown again: <code data-testid="issued-token">{issued}</code>
        </p>
      )}
    </form>
  );
}
