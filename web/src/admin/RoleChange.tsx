// A user's role, changed only after the admin confirms it.
import { useState } from "react";
import { type Role, type User } from "../api";
import { ROLES } from "./roles";

/**
 * A user's role: picking another one asks first ("Make vera analyst" or Cancel), since a role decides
 * what the person may see; the admin's own role cannot be changed here.
 */
export function RoleChange({ user, self, onChange }: { user: User; self: string; onChange: (role: Role) => void }) {
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
