// The signed-in person as every screen sees them: their session, what their role lets them do, and
// the one handler for a session that ended (a 401 from any call brings the login back). Provided once
// by the app; screens read it with `useSession` instead of receiving it through props.
import { type ReactNode, createContext, useContext } from "react";
import { ApiError, type Role, type Session } from "./api";

/** What a role may do on screen (the services enforce the same; the screen only hides what would be refused). */
export interface Abilities {
  /** Change streams, watchlists, rules and schedules (operators and admins). */
  manages: boolean;
  /** See faces, frames and names of people (everyone but viewers). */
  seesPeople: boolean;
  /** Manage users and tokens (admins). */
  administers: boolean;
}

/** The abilities of `role`. */
export function abilitiesOf(role: Role): Abilities {
  return {
    manages: role === "operator" || role === "admin",
    seesPeople: role !== "viewer",
    administers: role === "admin",
  };
}

/** The session, its abilities and the session-ended handler. */
export interface SessionTools {
  session: Session;
  can: Abilities;
  /** Handles an error that says the session ended (a 401): the login comes back; true when it did. */
  endedBy: (error: unknown) => boolean;
}

const SessionContext = createContext<SessionTools | null>(null);

/** Provides `tools` to the screens below. */
export function SessionProvider({ tools, children }: { tools: SessionTools; children: ReactNode }) {
  return <SessionContext.Provider value={tools}>{children}</SessionContext.Provider>;
}

/** The signed-in session's tools; only inside the app's screens (after login). */
export function useSession(): SessionTools {
  const tools = useContext(SessionContext);
  if (!tools) throw new Error("useSession outside the signed-in app");
  return tools;
}

/** Whether `error` says the session ended (the services answer 401). */
export const sessionEnded = (error: unknown): error is ApiError => error instanceof ApiError && error.status === 401;
