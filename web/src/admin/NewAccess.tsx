// The forms that make a user (with a password) or issue an API token (shown once).
import { useState } from "react";
import { type IssuedToken, type Role, api } from "../api";
import { FieldProblem, useFormAction } from "../forms";
import { ROLES } from "./roles";

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
export function NewUser(props: NewProps) {
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
export function NewToken(props: NewProps) {
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
