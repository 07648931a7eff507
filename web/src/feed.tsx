// The live alert feed, opened once for the whole app (for the roles that see alerts): every screen
// shows the unread count in the menu, and a new alert can sound and raise a browser notification
// wherever the user is. The alert desk reads the same feed for its live list and its state changes.
import { type ReactNode, createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { type LiveAlert } from "./api";
import { useApi, useRefresh } from "./data";
import { navigate } from "./url";

/** The state of the live feed. */
export type FeedState = "connecting" | "live" | "reconnecting" | "ended";

/** The counts of `GET /v1/alerts/counts`. */
interface AlertCounts {
  new: number;
  acknowledged: number;
}

/** What the user chose to be told of a new alert, kept in this browser. */
export interface Announcing {
  sound: boolean;
  notifications: boolean;
}

/** The feed as the screens see it. */
export interface AlertFeed {
  state: FeedState;
  /** Alerts that arrived on the feed since the app opened, by id (the desk marks them). */
  fresh: ReadonlySet<string>;
  /** Alerts no one acknowledged yet; null until known. */
  unread: number | null;
  announcing: Announcing;
  /** Turns a way of announcing on or off (asking the browser's permission for notifications). */
  announce: (change: Partial<Announcing>) => Promise<void>;
  /** Why browser notifications cannot be shown, if they cannot. */
  notificationsRefused: string | null;
}

const FeedContext = createContext<AlertFeed | null>(null);

/** The feed; null for a role that sees no alerts. */
export const useAlertFeed = () => useContext(FeedContext);

const SETTINGS_KEY = "sightline.alerts.announcing";

function storedAnnouncing(): Announcing {
  try {
    const stored = JSON.parse(window.localStorage.getItem(SETTINGS_KEY) ?? "{}") as Partial<Announcing>;
    return { sound: stored.sound === true, notifications: stored.notifications === true };
  } catch {
    return { sound: false, notifications: false };
  }
}

/** How often the unread count is read again without the feed, ms (the feed refreshes it at once). */
const COUNTS_REFRESH_MS = 30_000;

/** The paths a feed event makes stale: the desk's lists, an open alert and the counts. */
const ALERT_PATHS = "/v1/alerts";

/** Two short tones, loud enough to turn a head in a guard room, through the page's audio context. */
function chime(audio: AudioContext) {
  for (const [offset, frequency] of [
    [0, 880],
    [0.22, 1175],
  ]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.25, audio.currentTime + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + offset + 0.2);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(audio.currentTime + offset);
    oscillator.stop(audio.currentTime + offset + 0.2);
  }
}

/** Opens the feed for `children`, when `enabled` (the role sees alerts). */
export function AlertFeedProvider({ enabled, children }: { enabled: boolean; children: ReactNode }) {
  const [state, setState] = useState<FeedState>("connecting");
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [announcing, setAnnouncing] = useState<Announcing>(storedAnnouncing);
  const [notificationsRefused, setNotificationsRefused] = useState<string | null>(null);
  // Bumped to open the feed again after the notifier ended it while the session still works.
  const [generation, setGeneration] = useState(0);
  const counts = useApi<AlertCounts>(enabled ? `${ALERT_PATHS}/counts` : null, {
    refetchInterval: COUNTS_REFRESH_MS,
    refetchIntervalInBackground: true,
  });
  const refresh = useRefresh();
  const audio = useRef<AudioContext | null>(null);
  const announcingRef = useRef(announcing);
  useEffect(() => {
    announcingRef.current = announcing;
    window.localStorage.setItem(SETTINGS_KEY, JSON.stringify(announcing));
  }, [announcing]);

  // A burst of alerts reads the lists again once, not once per alert.
  const pending = useRef<number | null>(null);
  const refreshSoon = useCallback(() => {
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      void refresh(ALERT_PATHS);
    }, 300);
  }, [refresh]);

  const announce = useCallback(async (change: Partial<Announcing>) => {
    if (change.sound) {
      // Made on the click that turns sound on: browsers let a page play only after a gesture.
      audio.current ??= new AudioContext();
      await audio.current.resume();
      chime(audio.current);
    }
    if (change.notifications) {
      if (!("Notification" in window)) {
        setNotificationsRefused("this browser shows no notifications");
        return;
      }
      const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      if (permission !== "granted") {
        setNotificationsRefused("the browser refused: allow notifications for this site in its settings");
        return;
      }
    }
    setNotificationsRefused(null);
    setAnnouncing((current) => ({ ...current, ...change }));
  }, []);

  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource("/api/v1/alerts/live");
    source.onopen = () => setState("live");
    source.onerror = () => setState("reconnecting");
    source.addEventListener("alert", (event) => {
      const alert = JSON.parse((event as MessageEvent<string>).data) as LiveAlert;
      setFresh((current) => new Set(current).add(alert.alert_id));
      refreshSoon();
      // A camera added since the app opened is named too; deliveries show a moment later.
      void refresh("/v1/streams");
      window.setTimeout(refreshSoon, 3000);
      const { sound, notifications } = announcingRef.current;
      if (sound && audio.current) chime(audio.current);
      if (notifications && "Notification" in window && Notification.permission === "granted") {
        const notification = new Notification(`${alert.person.display_name} seen`, {
          body: `Similarity ${alert.similarity.toFixed(2)} on ${alert.list.name}; rule ${alert.rule.name}`,
          tag: alert.alert_id,
          icon: alert.has_best_shot ? `/api/v1/alerts/${alert.alert_id}/best-shot` : undefined,
        });
        notification.onclick = () => {
          window.focus();
          navigate(`/alerts?${new URLSearchParams({ alert: alert.alert_id })}`);
        };
      }
    });
    // Someone acknowledged, resolved or reopened an alert, or sent a delivery again.
    source.addEventListener("changed", refreshSoon);
    // Alerts missed while the browser lagged behind are in the lists: read them again.
    source.addEventListener("lagged", refreshSoon);
    // The notifier ended the feed (the session ended, lost the role, or could not be checked):
    // reading the counts again takes an ended session back to the login or shows the refusal; a
    // session that still works gets the feed again a moment later.
    source.addEventListener("ended", () => {
      source.close();
      setState("ended");
      void refresh(ALERT_PATHS).then(() => window.setTimeout(() => setGeneration((n) => n + 1), 2000));
    });
    return () => source.close();
  }, [enabled, refresh, refreshSoon, generation]);

  useEffect(
    () => () => {
      if (pending.current !== null) window.clearTimeout(pending.current);
    },
    [],
  );

  const unread = counts.data?.new ?? null;
  const feed = useMemo<AlertFeed>(
    () => ({ state, fresh, unread, announcing, announce, notificationsRefused }),
    [state, fresh, unread, announcing, announce, notificationsRefused],
  );
  return <FeedContext.Provider value={enabled ? feed : null}>{children}</FeedContext.Provider>;
}
