//! The live feed: every notifier follows the `sightline_alerts` channel (a trigger announces each new
//! alert) and sends the alerts whose rule has the `live` channel to the browsers subscribed to it
//! (`GET /v1/alerts/live`, Server-Sent Events). So a browser connected to any notifier sees the alerts
//! every notifier raises. A step on the desk (an alert acknowledged, resolved, reopened, a delivery
//! sent again) is announced on the same channel (`changed:<id>`) and sent to every subscriber as
//! `event: changed`, so every desk shows it at once.

use sightline_common::auth::Credential;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::alert::Alert;
use crate::desk::CHANGED_PREFIX;
use crate::metrics::NotifierMetrics;

/// PostgreSQL channel announcing new alerts (payload: the alert id).
pub const ALERTS_CHANNEL: &str = "sightline_alerts";

/// Alerts waiting per subscriber at most; a subscriber further behind misses the oldest and is told.
const FEED_CAPACITY: usize = 256;

/// What the feed broadcasts.
#[derive(Debug, Clone)]
enum Published {
    /// A new alert's document (JSON).
    Alert(String),
    /// An alert's new state (JSON: `alert_id`, `state`, `handled_by`, `handled_ms`, `note`).
    Changed(String),
}

/// The feed subscribers receive from.
#[derive(Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<Published>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self { sender: broadcast::channel(FEED_CAPACITY).0 }
    }
}

/// How often an open subscription checks its credential again (and before every alert).
pub const RECHECK: Duration = Duration::from_secs(1);

/// What a subscriber is sent next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// An alert's document (JSON).
    Alert(String),
    /// An alert changed state on the desk (JSON: `alert_id`, `state`, `handled_by`, `handled_ms`,
    /// `note`).
    Changed(String),
    /// This many alerts were missed by a slow reader.
    Lagged(u64),
    /// The subscription ends, for this reason: its credential was revoked, logged out, expired,
    /// disabled or lost the role.
    Ended(&'static str),
}

/// One subscriber's view of the feed, on the credential it was opened with: each alert is sent only
/// after the credential is found still valid, and the credential is checked every [`RECHECK`]
/// even when no alert comes, so a revoked token, an ended session or a disabled user stops
/// receiving within a second, and the feed ends with [`FeedItem::Ended`].
pub struct Subscription {
    alerts: broadcast::Receiver<Published>,
    checks: tokio::time::Interval,
    pool: PgPool,
    credential: Credential,
    ended: bool,
}

impl Subscription {
    /// The next item, or `None` once the subscription ended.
    pub async fn next(&mut self) -> Option<FeedItem> {
        if self.ended {
            return None;
        }
        loop {
            let alert = tokio::select! {
                alert = self.alerts.recv() => Some(alert),
                _ = self.checks.tick() => None,
            };
            if let Some(reason) = self.refusal().await {
                self.ended = true;
                return Some(FeedItem::Ended(reason));
            }
            match alert {
                None => continue,
                Some(Ok(Published::Alert(document))) => return Some(FeedItem::Alert(document)),
                Some(Ok(Published::Changed(state))) => return Some(FeedItem::Changed(state)),
                Some(Err(RecvError::Lagged(missed))) => return Some(FeedItem::Lagged(missed)),
                Some(Err(RecvError::Closed)) => return None,
            }
        }
    }

    /// Why the credential may no longer receive alerts, if it may not. A check that fails refuses
    /// too: a browser reconnects on its own, with whatever credential it still has.
    async fn refusal(&self) -> Option<&'static str> {
        match self.credential.holder(&self.pool).await {
            Ok(Some(holder)) if holder.role.can_see_people() => None,
            Ok(Some(_)) => Some("the role no longer sees alerts"),
            Ok(None) => Some("the token or session has ended"),
            Err(error) => {
                tracing::warn!(%error, "live feed: checking a subscriber's credential failed");
                Some("the credential could not be checked; reconnect")
            }
        }
    }
}

impl LiveFeed {
    /// A new subscription on `credential`, checked again in `pool` as it goes.
    pub fn subscribe(&self, pool: PgPool, credential: Credential) -> Subscription {
        let mut checks = tokio::time::interval(RECHECK);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Subscription { alerts: self.sender.subscribe(), checks, pool, credential, ended: false }
    }

    /// Follows new alerts until `shutdown`, reconnecting with backoff. Each time it (re)connects it
    /// first publishes the live deliveries still pending from the last [`CATCH_UP`] (raised while
    /// it was not listening), then every alert it is told of.
    pub async fn follow(self, pool: PgPool, base_url: String, metrics: NotifierMetrics, mut shutdown: Shutdown) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let mut listener = match sightline_common::relational::listen(&pool, ALERTS_CHANNEL).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "live feed: listening failed");
                    if !backoff.pause(&mut shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            match pending_live(&pool).await {
                Ok(pending) => {
                    for id in pending {
                        self.publish(&pool, &base_url, &metrics, id, &mut shutdown).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "live feed: reading the pending live deliveries failed"),
            }
            loop {
                let notification = tokio::select! {
                    _ = shutdown.requested() => return,
                    notification = listener.recv() => notification,
                };
                let notification = match notification {
                    Ok(notification) => notification,
                    Err(error) => {
                        tracing::warn!(%error, "live feed: listener lost; reconnecting");
                        break;
                    }
                };
                let payload = notification.payload();
                if let Some(changed) = payload.strip_prefix(CHANGED_PREFIX) {
                    if let Ok(id) = changed.parse::<Uuid>() {
                        self.publish_change(&pool, id).await;
                    }
                } else if let Ok(id) = payload.parse::<Uuid>() {
                    self.publish(&pool, &base_url, &metrics, id, &mut shutdown).await;
                }
            }
        }
    }

    /// Sends alert `id` to the subscribers if its rule has the live feed, then records its live
    /// delivery as delivered: never before it was sent. While the database fails (it may be short of
    /// connections) both steps are retried with backoff rather than the alert dropped; if shutdown
    /// comes first the delivery stays pending for the next follower's catch-up.
    async fn publish(
        &self,
        pool: &PgPool,
        base_url: &str,
        metrics: &NotifierMetrics,
        id: Uuid,
        shutdown: &mut Shutdown,
    ) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let alert = loop {
            match live_alert(pool, id).await {
                Ok(Some(alert)) => break alert,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%error, alert = %id, "live feed: loading the alert failed; trying again");
                    if !backoff.pause(shutdown).await {
                        return;
                    }
                }
            }
        };
        // No subscriber is not an error: the feed is live only.
        let _ = self.sender.send(Published::Alert(alert.document(base_url).to_string()));
        metrics.attempt("live", "delivered", alert.capture_time_ms);
        backoff.reset();
        while let Err(error) = mark_published(pool, id).await {
            tracing::warn!(%error, alert = %id, "live feed: recording the delivery failed; trying again");
            if !backoff.pause(shutdown).await {
                return;
            }
        }
    }
}

/// The data of `event: changed`: the alert and where it now stands.
#[derive(serde::Serialize)]
struct Changed<'a> {
    alert_id: Uuid,
    #[serde(flatten)]
    handling: &'a crate::alert::Handling,
}

impl LiveFeed {
    /// Sends alert `id`'s state to the subscribers. A desk that misses it (the database failed
    /// here) still shows the state on its next read of the list.
    async fn publish_change(&self, pool: &PgPool, id: Uuid) {
        match Alert::load(pool, id).await {
            Ok(Some(alert)) => {
                let changed = Changed { alert_id: alert.id, handling: &alert.handling };
                if let Ok(state) = serde_json::to_string(&changed) {
                    let _ = self.sender.send(Published::Changed(state));
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, alert = %id, "live feed: loading a changed alert failed"),
        }
    }
}

/// How far back a follower that (re)connects publishes live deliveries still pending.
pub const CATCH_UP: Duration = Duration::from_secs(300);

/// The alerts whose live delivery is still pending, raised within [`CATCH_UP`], oldest first.
async fn pending_live(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT alert_id FROM alert_deliveries WHERE channel = 'live' AND status = 'pending' \
         AND due_at > now() - make_interval(secs => $1) ORDER BY due_at",
    )
    .bind(CATCH_UP.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Records the live delivery of alert `id` as delivered (the first follower to publish it does).
async fn mark_published(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = now() \
         WHERE alert_id = $1 AND channel = 'live' AND status = 'pending'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The alert `id` if its rule sends it to the live feed.
async fn live_alert(pool: &PgPool, id: Uuid) -> Result<Option<Alert>, sqlx::Error> {
    let live: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE alert_id = $1 AND channel = 'live')")
            .bind(id)
            .fetch_one(pool)
            .await?;
    if !live {
        return Ok(None);
    }
    Alert::load(pool, id).await
}
