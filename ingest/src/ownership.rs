//! Which ingest instance runs each enabled stream (`schemas/postgres/0011_stream_leases.sql`): one at
//! a time, by a lease in PostgreSQL that its owner renews every [`Ownership::renew_every`].
//!
//! Every instance, at each renewal: says it is alive (`ingest_instances`); renews its leases and
//! writes its streams' states into them (so any instance's API answers them); drops the leases of
//! disabled streams; names those it holds beyond its share (the enabled streams divided by the
//! live instances, rounded up), which it gives back with [`Ownership::give_back`] once their
//! workers stopped and flushed; and takes leases that nobody holds or whose owner stopped renewing,
//! up to its share. Two instances never hold one stream: a lease is taken by one `INSERT ... ON
//! CONFLICT` that replaces only an expired one. An instance that stops gives its leases back at
//! once; one that dies lets them expire after [`Ownership::lease`], and the others look again the
//! moment the first of them expires ([`Settled::next_expiry`]), so its streams resume within the
//! lease.

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

/// How many times one renewal looks for free streams when other instances took the ones it chose.
const TAKE_ATTEMPTS: usize = 3;

/// What one renewal left this instance with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settled {
    /// The streams to run.
    pub run: HashSet<Uuid>,
    /// Streams still leased to this instance beyond its share: stop them, then give them back
    /// ([`Ownership::give_back`]), so nobody else analyses them before their last reports are out.
    pub surplus: Vec<Uuid>,
    /// How long until the next lease of another instance expires: if its owner died, its stream
    /// may be taken then.
    pub next_expiry: Option<Duration>,
}

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
    /// those beyond its share named, free ones taken up to it.
    pub async fn settle(&self, states: &[WrittenState]) -> Result<Settled, sqlx::Error> {
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
        let surplus = if held.len() > share { held.split_off(share) } else { Vec::new() };
        if !surplus.is_empty() {
            tracing::info!(instance = %self.instance, surplus = surplus.len(), share, "streams to give back to share them");
        }
        let mut room = share.saturating_sub(held.len() + surplus.len());
        // Another instance may take some of the same candidates at the same moment (both woke as a
        // dead one's leases expired): then look again, for the others.
        for _ in 0..TAKE_ATTEMPTS {
            if room == 0 {
                break;
            }
            let (candidates, taken): (i64, Vec<Uuid>) = sqlx::query_as(
                "WITH candidates AS (SELECT s.id FROM streams s LEFT JOIN stream_leases l ON l.stream_id = s.id \
                 WHERE s.enabled AND (l.stream_id IS NULL OR l.expires_at < now()) ORDER BY s.id LIMIT $4), \
                 taken AS (INSERT INTO stream_leases (stream_id, instance, api_url, expires_at) \
                 SELECT id, $1, $2, now() + make_interval(secs => $3::double precision / 1000) FROM candidates \
                 ON CONFLICT (stream_id) DO UPDATE SET instance = EXCLUDED.instance, api_url = EXCLUDED.api_url, \
                 expires_at = EXCLUDED.expires_at, status = NULL, status_at = NULL \
                 WHERE stream_leases.expires_at < now() RETURNING stream_id) \
                 SELECT (SELECT count(*) FROM candidates), ARRAY(SELECT stream_id FROM taken)",
            )
            .bind(&self.instance)
            .bind(&self.api_url)
            .bind(lease_ms)
            .bind(i64::try_from(room).unwrap_or(i64::MAX))
            .fetch_one(&self.pool)
            .await?;
            if !taken.is_empty() {
                tracing::info!(instance = %self.instance, taken = taken.len(), share, "streams taken");
            }
            let lost_races = usize::try_from(candidates).unwrap_or_default() > taken.len();
            room -= taken.len().min(room);
            held.extend(taken);
            if !lost_races {
                break;
            }
        }
        let next_expiry: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM min(expires_at) - now())::double precision FROM stream_leases \
             WHERE instance <> $1 AND expires_at > now()",
        )
        .bind(&self.instance)
        .fetch_one(&self.pool)
        .await?;
        Ok(Settled {
            run: held.into_iter().collect(),
            surplus,
            next_expiry: next_expiry.map(|secs| Duration::from_secs_f64(secs.max(0.0))),
        })
    }

    /// Gives back the leases of `streams` (their workers stopped) and says so on `sightline_streams`,
    /// so the other instances take them at once.
    pub async fn give_back(&self, streams: &[Uuid]) -> Result<(), sqlx::Error> {
        sqlx::query(
            "WITH given AS (DELETE FROM stream_leases WHERE instance = $1 AND stream_id = ANY($2) RETURNING stream_id) \
             SELECT pg_notify('sightline_streams', stream_id::text) FROM given",
        )
        .bind(&self.instance)
        .bind(streams)
        .execute(&self.pool)
        .await?;
        tracing::info!(instance = %self.instance, given_back = streams.len(), "streams given back to share them");
        Ok(())
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
