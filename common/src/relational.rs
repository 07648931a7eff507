//! PostgreSQL: the embedded migrations (`schemas/postgres/NNNN_name.sql`) applied with sqlx's
//! migrator, which records them in `_sqlx_migrations` and refuses edited ones.

use sightline_schemas::POSTGRES_MIGRATIONS;
use sqlx::PgPool;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgListener;
use std::borrow::Cow;

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
