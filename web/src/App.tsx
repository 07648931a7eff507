import { useCallback, useEffect, useState } from "react";
import { ApiError, type Session, api, rememberCsrfToken } from "./api";
import { Login } from "./Login";
import { Streams } from "./Streams";

/** A service's message as a sentence: capitalised, ending with a full stop. */
function sentence(message: string): string {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** The app: the login form until a session exists, then the screens. */
export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checked, setChecked] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const adopt = useCallback((next: Session | null) => {
    rememberCsrfToken(next?.csrf_token ?? null);
    setSession(next);
  }, []);

  useEffect(() => {
    api<Session>("GET", "/v1/auth/session")
      .then(adopt)
      .catch((error: unknown) => {
        // A cookie whose session ended says so; a first visit (no cookie) needs no reason.
        if (error instanceof ApiError && error.message.startsWith("session ended")) setNotice(sentence(error.message));
        adopt(null);
      })
      .finally(() => setChecked(true));
  }, [adopt]);

  // A request that finds the session ended (idle, logged out elsewhere) brings the login back.
  const onSessionEnded = useCallback(
    (error: unknown) => {
      if (error instanceof ApiError && error.status === 401) {
        setNotice(sentence(error.message));
        adopt(null);
        return true;
      }
      return false;
    },
    [adopt],
  );

  const logout = async () => {
    try {
      await api("POST", "/v1/auth/logout");
    } finally {
      setNotice("You have logged out.");
      adopt(null);
    }
  };

  if (!checked) return <p className="loading">Loading…</p>;
  if (!session) {
    return (
      <Login
        notice={notice}
        onLogin={(next) => {
          setNotice(null);
          adopt(next);
        }}
      />
    );
  }
  return (
    <div className="shell">
      <header>
        <h1>Sightline</h1>
        <nav>
          <a className="active" href="/streams">
            Streams
          </a>
        </nav>
        <span className="who" data-testid="who">
          {session.name} ({session.role})
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      <main>
        <Streams role={session.role} onSessionEnded={onSessionEnded} />
      </main>
    </div>
  );
}
