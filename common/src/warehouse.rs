//! The ClickHouse warehouse: client construction and the migration runner.
//!
//! Clients are built for both ClickHouse 18.16 and current versions: row validation is off (18.16
//! has no `RowBinaryWithNamesAndTypes`) and reads are uncompressed (18.16's LZ4 responses come back
//! empty through the crate); inserts use LZ4.

use clickhouse::{Client, Compression};
use serde::{Deserialize, Serialize};
use sightline_schemas::{CLICKHOUSE_MIGRATIONS, Migration, queries};

/// Errors talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// A query or insert failed.
    #[error("clickhouse {action}: {source}")]
    Query {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// A best shot the warehouse keeps sealed could not be opened (its key unreadable, or the
    /// stored bytes altered).
    #[error("reading a best shot: {0}")]
    Image(#[from] crate::sealing::StoredImageError),
    /// An image the warehouse keeps the key of could not be read from the object store.
    #[cfg(feature = "objects")]
    #[error("reading an image: {0}")]
    Objects(#[from] crate::objects::ObjectError),
    /// An applied migration's file changed afterwards.
    #[error(
        "clickhouse migration {version} ({name}) was edited after it was applied (checksum {applied} != {current}); add a new migration instead"
    )]
    MigrationChanged {
        /// Migration version.
        version: u32,
        /// Migration name.
        name: String,
        /// Checksum recorded when applied.
        applied: String,
        /// Checksum of the file now.
        current: String,
    },
}

/// Wraps a clickhouse error with what was being done.
pub fn query_error(action: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> WarehouseError {
    let action = action.into();
    move |source| WarehouseError::Query { action, source }
}

/// Where the warehouse is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClickHouseSettings {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding Sightline's tables.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (empty for none).
    pub password: String,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:18123".into(),
            database: "sightline".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

impl ClickHouseSettings {
    /// A client bound to the configured database, for inserts (LZ4).
    pub fn insert_client(&self) -> Client {
        self.server_client().with_database(&self.database).with_compression(Compression::Lz4)
    }

    /// A client bound to the configured database, for reads (uncompressed).
    pub fn read_client(&self) -> Client {
        self.server_client().with_database(&self.database)
    }

    /// A client with no database selected (for `CREATE DATABASE`).
    pub fn server_client(&self) -> Client {
        let mut client = Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_compression(Compression::None)
            .with_validation(false);
        if !self.password.is_empty() {
            client = client.with_password(&self.password);
        }
        client
    }
}

/// One row of the migration history table.
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
struct AppliedMigration {
    version: u32,
    name: String,
    checksum: String,
}

/// Creates the database if needed and applies the embedded migrations that are not applied yet,
/// recording each in `schema_migrations`. Returns the versions applied by this call.
///
/// Migrations use `IF NOT EXISTS` (and one `ADD COLUMN` per statement, a column found added taken as
/// done), so a run interrupted between a statement and its record is safe to repeat; an applied
/// migration whose file changed is refused.
pub async fn migrate(settings: &ClickHouseSettings) -> Result<Vec<u32>, WarehouseError> {
    apply_migrations(settings, CLICKHOUSE_MIGRATIONS).await
}

/// [`migrate`] with an explicit migration list (tests use it).
pub async fn apply_migrations(
    settings: &ClickHouseSettings,
    migrations: &[Migration],
) -> Result<Vec<u32>, WarehouseError> {
    let database = &settings.database;
    settings
        .server_client()
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await
        .map_err(query_error(format!("creating database {database}")))?;
    let client = settings.read_client();
    client.query(queries::MIGRATION_HISTORY_DDL).execute().await.map_err(query_error("creating schema_migrations"))?;
    let applied: Vec<AppliedMigration> =
        client.query(queries::MIGRATION_HISTORY).fetch_all().await.map_err(query_error("reading schema_migrations"))?;

    let mut newly_applied = Vec::new();
    for migration in migrations {
        let checksum = migration.checksum();
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            if done.checksum != checksum {
                return Err(WarehouseError::MigrationChanged {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    applied: done.checksum.clone(),
                    current: checksum,
                });
            }
            continue;
        }
        for statement in migration.statements() {
            match client.query(&statement).execute().await {
                Ok(()) => {}
                Err(error) if column_already_added(&statement, &error) => {}
                Err(error) => {
                    return Err(query_error(format!("applying migration {} ({})", migration.version, migration.name))(
                        error,
                    ));
                }
            }
        }
        let mut insert =
            client.insert::<AppliedMigration>("schema_migrations").await.map_err(query_error("recording migration"))?;
        insert
            .write(&AppliedMigration { version: migration.version, name: migration.name.to_owned(), checksum })
            .await
            .map_err(query_error("recording migration"))?;
        insert.end().await.map_err(query_error("recording migration"))?;
        tracing::info!(version = migration.version, name = migration.name, %database, "clickhouse migration applied");
        newly_applied.push(migration.version);
    }
    Ok(newly_applied)
}

/// Whether `error` says the column `statement` adds exists already: ClickHouse 18.16 has no
/// `ADD COLUMN IF NOT EXISTS`, so a migration that adds one column per statement is repeatable.
fn column_already_added(statement: &str, error: &clickhouse::error::Error) -> bool {
    let message = error.to_string();
    statement.to_ascii_uppercase().contains(" ADD COLUMN ")
        && message.contains("already exists")
        && (message.contains("Code: 44") || message.contains("Code: 15"))
}

/// Checks that the server answers.
pub async fn ping(settings: &ClickHouseSettings) -> Result<(), WarehouseError> {
    settings.server_client().query("SELECT 1").fetch_one::<u8>().await.map(|_| ()).map_err(query_error("ping"))
}
