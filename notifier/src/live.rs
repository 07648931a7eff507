//! The live feed: every notifier follows the `sightline_alerts` channel (a trigger announces each new
//! alert) and sends the alerts whose rule has the `live` channel to the browsers subscribed to it
//! (`GET /v1/alerts/live`, Server-Sent Events). So a browser connected to any notifier sees the alerts
//! every notifier raises.

use sightline_common::retry::Backoff;
use sightline_common::shutdown::Shutdown;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::broadcast;
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

impl LiveFeed {
    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
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
