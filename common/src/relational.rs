//! PostgreSQL: the embedded migrations (`schemas/postgres/NNNN_name.sql`) applied with sqlx's
//! migrator, which records them in `_sqlx_migrations` and refuses edited ones; listeners; and the
//! watch that makes a service not ready while its connection pool is exhausted.

use sightline_schemas::POSTGRES_MIGRATIONS;
use sqlx::PgPool;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgListener;
use std::borrow::Cow;
use std::time::Duration;

use crate::http::Readiness;
use crate::shutdown::Shutdown;

/// Errors applying PostgreSQL migrations.
#[derive(Debug, thiserror::Error)]
pub enum RelationalError {
    /// Connecting failed.
    #[error("connecting to postgres: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed or was edited after being applied.
    #[error("postgres migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The embedded migrations as a sqlx migrator.
pub fn migrator() -> Migrator {
    let migrations: Vec<Migration> = POSTGRES_MIGRATIONS
        .iter()
        .map(|m| {
            Migration::new(
                i64::from(m.version),
                Cow::Borrowed(m.name),
                MigrationType::Simple,
                Cow::Borrowed(m.sql),
                false,
            )
        })
        .collect();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

/// A listener on `channel` (`LISTEN`), on its own connection from `pool`'s settings.
pub async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Connects to `url` and applies the pending migrations.
pub async fn migrate(url: &str) -> Result<PgPool, RelationalError> {
    let pool = PgPool::connect(url).await.map_err(RelationalError::Connect)?;
    migrator().run(&pool).await?;
    Ok(pool)
}

/// How often [`watch_pool`] asks its pool for a connection.
pub const POOL_PROBE_EVERY: Duration = Duration::from_secs(5);

/// How long [`watch_pool`] waits for a connection before it calls the pool exhausted.
pub const POOL_PROBE_WAIT: Duration = Duration::from_secs(2);

/// The readiness condition (and `sightline_not_ready{condition}` series) of [`watch_pool`].
pub const POOL_CONDITION: &str = "database";

/// Keeps `readiness` in step with `pool` until `shutdown`: every [`POOL_PROBE_EVERY`] it asks for a
/// connection, and while none is free within [`POOL_PROBE_WAIT`] (every connection busy and no
/// more allowed, on this side or PostgreSQL's) or PostgreSQL refuses, the service is not ready
/// (condition [`POOL_CONDITION`]), saying how many connections it holds.
pub async fn watch_pool(pool: PgPool, readiness: Readiness, mut shutdown: Shutdown) {
    loop {
        match tokio::time::timeout(POOL_PROBE_WAIT, pool.acquire()).await {
            Ok(Ok(connection)) => {
                drop(connection);
                readiness.clear(POOL_CONDITION);
            }
            Ok(Err(error)) => readiness.block(POOL_CONDITION, format!("PostgreSQL: {error}")),
            Err(_) => readiness.block(
                POOL_CONDITION,
                format!(
                    "no PostgreSQL connection free within {} s ({} open of at most {}, {} idle)",
                    POOL_PROBE_WAIT.as_secs(),
                    pool.size(),
                    pool.options().get_max_connections(),
                    pool.num_idle()
                ),
            ),
        }
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(POOL_PROBE_EVERY) => {}
        }
    }
}
