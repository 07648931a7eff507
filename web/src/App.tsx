import { QueryClientProvider } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, type Role, type Session, api, rememberCsrfToken } from "./api";
import { Admin } from "./Admin";
import { Alerts } from "./Alerts";
import { Analytics } from "./Analytics";
import { ApiReference } from "./ApiReference";
import { Login } from "./Login";
import { Privacy } from "./Privacy";
import { Reports } from "./Reports";
import { Search } from "./Search";
import { Streams } from "./Streams";
import { Tracks } from "./Tracks";
import { Wall } from "./Wall";
import { Watchlists } from "./Watchlists";
import { navigate, useAddress } from "./url";
import { makeQueryClient } from "./data";
import { SessionProvider, abilitiesOf, sessionEnded } from "./session";
import { AlertFeedProvider, useAlertFeed } from "./feed";

/** The screens, by path, with the roles that see them. */
const SCREENS: { path: string; title: string; roles: Role[] }[] = [
  { path: "/wall", title: "Camera wall", roles: ["viewer", "analyst", "operator", "admin"] },
  { path: "/streams", title: "Streams", roles: ["viewer", "analyst", "operator", "admin"] },
  { path: "/alerts", title: "Alerts", roles: ["analyst", "operator", "admin"] },
  { path: "/tracks", title: "Tracks", roles: ["analyst", "operator", "admin"] },
  { path: "/search", title: "Search by face", roles: ["analyst", "operator", "admin"] },
  { path: "/analytics", title: "Analytics", roles: ["viewer", "analyst", "operator", "admin"] },
  { path: "/reports", title: "Reports", roles: ["analyst", "operator", "admin"] },
  { path: "/watchlists", title: "Watchlists", roles: ["analyst", "operator", "admin"] },
  { path: "/admin", title: "Users and tokens", roles: ["admin"] },
  { path: "/privacy", title: "Privacy", roles: ["admin"] },
  { path: "/reference", title: "API", roles: ["viewer", "analyst", "operator", "admin"] },
];

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
  const { path } = useAddress();
  // The menu on a narrow screen, folded behind its button until opened; a choice folds it again.
  const [menuOpen, setMenuOpen] = useState(false);
  const go = useCallback((next: string) => {
    setMenuOpen(false);
    navigate(next);
  }, []);

  // What the screens read, cached while the session lasts; a read that finds the session ended
  // brings the login back (through the handler below, once it exists).
  const endedRef = useRef<(error: unknown) => boolean>(() => false);
  const [queryClient] = useState(() => makeQueryClient((error) => endedRef.current(error)));

  const adopt = useCallback(
    (next: Session | null) => {
      rememberCsrfToken(next?.csrf_token ?? null);
      // Nothing read for one session (faces, names) stays in memory for the next.
      if (!next) queryClient.clear();
      setSession(next);
    },
    [queryClient],
  );

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
      if (sessionEnded(error)) {
        setNotice(sentence(error.message));
        adopt(null);
        return true;
      }
      return false;
    },
    [adopt],
  );
  useEffect(() => {
    endedRef.current = onSessionEnded;
  }, [onSessionEnded]);
  const tools = useMemo(() => session && { session, can: abilitiesOf(session.role), endedBy: onSessionEnded }, [session, onSessionEnded]);

  const logout = async () => {
    try {
      await api("POST", "/v1/auth/logout");
    } finally {
      setNotice("You have logged out.");
      adopt(null);
    }
  };

  if (!checked) return <p className="loading">Loading…</p>;
  if (!session || !tools) {
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
  const screens = SCREENS.filter((screen) => screen.roles.includes(session.role));
  // A screen of the app the role may not open (a typed or shared address) is said so, not swapped
  // for another one; any other address is the first screen.
  const refused = screens.some((candidate) => candidate.path === path) ? undefined : SCREENS.find((candidate) => candidate.path === path);
  const screen = screens.find((candidate) => candidate.path === path) ?? screens[0];
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider tools={tools}>
        <AlertFeedProvider enabled={tools.can.seesPeople}>
          <div className="shell">
            <header className={menuOpen ? "menu-open" : undefined}>
              <h1>Sightline</h1>
              <button
                type="button"
                className="menu-toggle"
                aria-expanded={menuOpen}
                aria-controls="menu"
                onClick={() => setMenuOpen((open) => !open)}
              >
                Menu
              </button>
              <nav id="menu" aria-label="Screens">
                {screens.map((candidate) => (
                  <a
                    key={candidate.path}
                    href={candidate.path}
                    className={candidate === screen && !refused ? "active" : undefined}
                    onClick={(event) => {
                      event.preventDefault();
                      go(candidate.path);
                    }}
                  >
                    {candidate.title}
                    {candidate.path === "/alerts" && <UnreadCount />}
                  </a>
                ))}
              </nav>
              <span className="who" data-testid="who">
                {session.name} ({session.role})
              </span>
              <button type="button" onClick={logout}>
                Log out
              </button>
            </header>
            <main>
              {refused ? (
                <section aria-labelledby="refused-title">
                  <h2 id="refused-title">Not for your role</h2>
                  <p>
                    {refused.title} is for {refused.roles.join(", ")}; your role, {session.role}, cannot open it.{" "}
                    <a
                      href={screen.path}
                      onClick={(event) => {
                        event.preventDefault();
                        go(screen.path);
                      }}
                    >
                      Go to {screen.title}
                    </a>
                  </p>
                </section>
              ) : screen.path === "/reference" ? (
                <ApiReference />
              ) : screen.path === "/admin" ? (
                <Admin />
              ) : screen.path === "/tracks" ? (
                <Tracks onSearchFace={(id) => go(`/search?${new URLSearchParams({ event: id })}`)} />
              ) : screen.path === "/search" ? (
                <Search />
              ) : screen.path === "/reports" ? (
                <Reports />
              ) : screen.path === "/analytics" ? (
                <Analytics />
              ) : screen.path === "/alerts" ? (
                <Alerts />
              ) : screen.path === "/watchlists" ? (
                <Watchlists />
              ) : screen.path === "/wall" ? (
                <Wall />
              ) : screen.path === "/privacy" ? (
                <Privacy />
              ) : (
                <Streams />
              )}
            </main>
          </div>
        </AlertFeedProvider>
      </SessionProvider>
    </QueryClientProvider>
  );
}

/** The alerts no one acknowledged yet, beside the menu's Alerts and in the tab's title. */
function UnreadCount({ testId = "unread" }: { testId?: string }) {
  const unread = useAlertFeed()?.unread ?? null;
  useEffect(() => {
    document.title = unread ? `(${unread}) Sightline` : "Sightline";
  }, [unread]);
  if (!unread) return null;
  return (
    <span className="badge" data-testid={testId} aria-label={`${unread} new ${unread === 1 ? "alert" : "alerts"}`}>
      {unread > 999 ? "999+" : unread}
    </span>
  );
}
