//! The live feed: every notifier follows the `sightline_alerts` channel (a trigger announces each new
//! alert) and sends the alerts whose rule has the `live` channel to the browsers subscribed to it
//! (`GET /v1/alerts/live`, Server-Sent Events). So a browser connected to any notifier sees the alerts
//! every notifier raises.

use sightline_common::auth::Credential;
use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::alert::Alert;
use crate::metrics::NotifierMetrics;

/// PostgreSQL channel announcing new alerts (payload: the alert id).
pub const ALERTS_CHANNEL: &str = "sightline_alerts";

/// Alerts waiting per subscriber at most; a subscriber further behind misses the oldest and is told.
const FEED_CAPACITY: usize = 256;

/// The feed subscribers receive from: alert documents as JSON.
#[derive(Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<String>,
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
    alerts: broadcast::Receiver<String>,
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
                Some(Ok(document)) => return Some(FeedItem::Alert(document)),
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

    /// Follows new alerts until `shutdown`, reconnecting with backoff.
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
            loop {
                let notification = tokio::select! {
                    _ = shutdown.requested() => return,
                    notification = listener.recv() => notification,
                };
                let id = match notification {
                    Ok(notification) => notification.payload().parse::<Uuid>(),
                    Err(error) => {
                        tracing::warn!(%error, "live feed: listener lost; reconnecting");
                        break;
                    }
                };
                let Ok(id) = id else { continue };
                match live_alert(&pool, id).await {
                    Ok(Some(alert)) => {
                        metrics.attempt("live", "delivered", alert.capture_time_ms);
                        // No subscriber is not an error: the feed is live only.
                        let _ = self.sender.send(alert.document(&base_url).to_string());
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, alert = %id, "live feed: loading the alert failed"),
                }
            }
        }
    }
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
