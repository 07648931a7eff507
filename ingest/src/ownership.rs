//! Which ingest instance runs each enabled stream (`schemas/postgres/0011_stream_leases.sql`): one at
//! a time, by a lease in PostgreSQL that its owner renews every [`Ownership::renew_every`].
//!
//! Every instance, at each renewal: says it is alive (`ingest_instances`); renews its leases and
//! writes its streams' states into them (so any instance's API answers them); gives back the
//! leases of disabled streams and those it holds beyond its share (the enabled streams divided by
//! the live instances, rounded up); and takes leases that nobody holds or whose owner stopped
//! renewing, up to its share. Two instances never hold one stream: a lease is taken by one
//! `INSERT ... ON CONFLICT` that replaces only an expired one. An instance that stops gives its
//! leases back at once; one that dies lets them expire after [`Ownership::lease`].

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Who this instance is among the ingest instances, and how long its leases last.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OwnershipSettings {
    /// This instance's name, unique among the instances sharing the streams (shown as a stream's
    /// `owner`); empty: the host's name and the API's port.
    pub instance: String,
    /// Where the other instances reach this one's streams API; empty: `http://` and the API's bound
    /// address.
    pub advertise_url: String,
    /// How long a lease lasts without renewal, seconds: a stream of an instance that died is taken
    /// over after at most this long. Leases are renewed three times as often.
    pub lease_secs: u64,
}

impl Default for OwnershipSettings {
    fn default() -> Self {
        Self { instance: String::new(), advertise_url: String::new(), lease_secs: 9 }
    }
}

/// One instance's side of the leases.
#[derive(Debug, Clone)]
pub struct Ownership {
    pool: PgPool,
    /// This instance's name.
    pub instance: String,
    api_url: String,
    /// How long a lease lasts.
    pub lease: Duration,
}

/// A stream's state as its owner last wrote it.
pub type WrittenState = (Uuid, serde_json::Value);

impl Ownership {
    /// This instance's side, named after `settings` (or the host and `api_addr`).
    pub fn new(pool: PgPool, settings: &OwnershipSettings, api_addr: std::net::SocketAddr) -> Self {
        let instance = if settings.instance.is_empty() {
            format!("{}:{}", host_name(), api_addr.port())
        } else {
            settings.instance.clone()
        };
        let api_url = if settings.advertise_url.is_empty() {
            format!("http://{api_addr}")
        } else {
            settings.advertise_url.clone()
        };
        Self { pool, instance, api_url, lease: Duration::from_secs(settings.lease_secs.max(3)) }
    }

    /// How often leases are renewed (and states written).
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// One renewal: this instance is alive, its leases renewed with `states` written into them,
    /// those beyond its share given back, free ones taken up to it. The streams it holds now.
    pub async fn settle(&self, states: &[WrittenState]) -> Result<HashSet<Uuid>, sqlx::Error> {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO ingest_instances (instance, api_url, seen_at) VALUES ($1, $2, now()) \
             ON CONFLICT (instance) DO UPDATE SET api_url = EXCLUDED.api_url, seen_at = now()",
        )
        .bind(&self.instance)
        .bind(&self.api_url)
        .execute(&self.pool)
        .await?;
        // Instances unseen for four leases are gone (they died without saying so).
        sqlx::query("DELETE FROM ingest_instances WHERE seen_at < now() - make_interval(secs => $1::double precision * 4 / 1000)")
            .bind(lease_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM stream_leases l USING streams s WHERE l.stream_id = s.id AND NOT s.enabled")
            .execute(&self.pool)
            .await?;
        let (ids, documents): (Vec<Uuid>, Vec<String>) =
            states.iter().map(|(id, state)| (*id, state.to_string())).unzip();
        let held: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE stream_leases SET expires_at = now() + make_interval(secs => $2::double precision / 1000) \
             WHERE instance = $1 RETURNING stream_id",
        )
        .bind(&self.instance)
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE stream_leases l SET status = w.status::jsonb, status_at = now() \
             FROM UNNEST($2::uuid[], $3::text[]) AS w (stream_id, status) WHERE l.stream_id = w.stream_id AND l.instance = $1",
        )
        .bind(&self.instance)
        .bind(&ids)
        .bind(&documents)
        .execute(&self.pool)
        .await?;
        let (enabled, live): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM streams WHERE enabled), \
             (SELECT count(*) FROM ingest_instances WHERE seen_at > now() - make_interval(secs => $1::double precision / 1000))",
        )
        .bind(lease_ms)
        .fetch_one(&self.pool)
        .await?;
        let share = usize::try_from((enabled + live.max(1) - 1) / live.max(1)).unwrap_or(usize::MAX);
        let mut held: Vec<Uuid> = held;
        held.sort();
        if held.len() > share {
            let extra = held.split_off(share);
            sqlx::query("DELETE FROM stream_leases WHERE instance = $1 AND stream_id = ANY($2)")
                .bind(&self.instance)
                .bind(&extra)
                .execute(&self.pool)
                .await?;
            tracing::info!(instance = %self.instance, given_back = extra.len(), share, "streams given back to share them");
        }
        let room = share.saturating_sub(held.len());
        if room > 0 {
            let taken: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO stream_leases (stream_id, instance, api_url, expires_at) \
                 SELECT s.id, $1, $2, now() + make_interval(secs => $3::double precision / 1000) FROM streams s \
                 LEFT JOIN stream_leases l ON l.stream_id = s.id \
                 WHERE s.enabled AND (l.stream_id IS NULL OR l.expires_at < now()) ORDER BY s.id LIMIT $4 \
                 ON CONFLICT (stream_id) DO UPDATE SET instance = EXCLUDED.instance, api_url = EXCLUDED.api_url, \
                 expires_at = EXCLUDED.expires_at, status = NULL, status_at = NULL \
                 WHERE stream_leases.expires_at < now() RETURNING stream_id",
            )
            .bind(&self.instance)
            .bind(&self.api_url)
            .bind(lease_ms)
            .bind(i64::try_from(room).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
            if !taken.is_empty() {
                tracing::info!(instance = %self.instance, taken = taken.len(), share, "streams taken");
            }
            held.extend(taken);
        }
        Ok(held.into_iter().collect())
    }

    /// Gives back every lease of this instance and says it stopped (the others take its streams at
    /// their next renewal).
    pub async fn release_all(&self) {
        let released = sqlx::query("DELETE FROM stream_leases WHERE instance = $1")
            .bind(&self.instance)
            .execute(&self.pool)
            .await
            .and(
                sqlx::query("DELETE FROM ingest_instances WHERE instance = $1")
                    .bind(&self.instance)
                    .execute(&self.pool)
                    .await,
            );
        if let Err(error) = released {
            tracing::warn!(%error, "giving the leases back failed; they expire instead");
        }
    }
}

/// The host's name (`HOSTNAME`, else `/etc/hostname`, else `localhost`).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
