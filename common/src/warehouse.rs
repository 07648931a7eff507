//! The ClickHouse warehouse: client construction and the migration runner.
//!
//! Clients are built for both ClickHouse 18.16 and current versions: row validation is off (18.16
//! has no `RowBinaryWithNamesAndTypes`) and reads are uncompressed (18.16's LZ4 responses come back
//! empty through the crate); inserts use LZ4.

use clickhouse::{Client, Compression};
use serde::{Deserialize, Serialize};
use sightline_schemas::cluster::{ClusterTarget, UnsupportedStatement};
use sightline_schemas::{CLICKHOUSE_MIGRATIONS, Migration, queries};
use std::time::Duration;

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
    /// A statement has no form for the configured cluster.
    #[error("clickhouse cluster: {0}")]
    Unsupported(#[from] UnsupportedStatement),
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

impl WarehouseError {
    /// The replicas named by ClickHouse's "all connection tries failed" (code 279): a read over a
    /// cluster one of whose shards has no replica answering, which must fail rather than count
    /// without it. `None` for any other error.
    pub fn unavailable_shard(&self) -> Option<Vec<String>> {
        let WarehouseError::Query { source, .. } = self else { return None };
        let message = source.to_string();
        if !message.contains("Code: 279") {
            return None;
        }
        let address =
            |text: &str| text.contains(':') && text.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c));
        let mut replicas: Vec<String> = message
            .split('(')
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .filter(|text| address(text))
            .map(str::to_owned)
            .collect();
        replicas.sort();
        replicas.dedup();
        Some(replicas)
    }
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
    /// The cluster (a name in the servers' `remote_servers`) holding the tables, or empty for one
    /// server. On a cluster the migrations make replicated shard-local tables under `Distributed`
    /// tables of the same names (docs/warehouse.md, "On a cluster"), and every client reads with
    /// shard-local subqueries and inserts synchronously into every shard.
    pub cluster: String,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:18123".into(),
            database: "sightline".into(),
            user: "default".into(),
            password: String::new(),
            cluster: String::new(),
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
        if !self.cluster.is_empty() {
            // Every table is sharded by stream, so a subquery's rows for a shard's streams are on that
            // shard: subqueries and joins read the shard's own tables. An insert returns once every
            // shard has its rows (a retried batch is then deduplicated by the replicas, block by block).
            client =
                client.with_option("distributed_product_mode", "local").with_option("insert_distributed_sync", "1");
        }
        client
    }

    /// Where the tables are when they are on a cluster.
    pub fn cluster_target(&self) -> Option<ClusterTarget<'_>> {
        (!self.cluster.is_empty()).then_some(ClusterTarget { cluster: &self.cluster, database: &self.database })
    }

    /// Every replica of the cluster's shards, as `remote()` takes them (`host:port,host:port`), for
    /// reads of each server's own state (parts, mutations); `None` on one server.
    pub async fn cluster_replicas(&self, client: &Client) -> Result<Option<String>, WarehouseError> {
        match self.cluster_target() {
            None => Ok(None),
            Some(target) => cluster_replicas(client, target.cluster).await.map(Some),
        }
    }

    /// A client whose inserts return once every replica of each shard holds the rows
    /// (`insert_quorum`): for a list that mutations read on every replica, such as an erasure's
    /// targets (a replica without it yet would change nothing, and answer counts without it). On one
    /// server, the read client. An insert fails while a replica is down, rather than leave it out.
    pub async fn every_replica_client(&self) -> Result<Client, WarehouseError> {
        let client = self.read_client();
        let Some(target) = self.cluster_target() else { return Ok(client) };
        let replicas: u64 = client
            .query(sightline_schemas::queries::CLUSTER_QUORUM)
            .bind(target.cluster)
            .fetch_one()
            .await
            .map_err(query_error(format!("counting the replicas of cluster {}", target.cluster)))?;
        Ok(client.with_option("insert_quorum", replicas.max(1).to_string()))
    }

    /// A maintenance statement on one table (`ALTER TABLE t DELETE|UPDATE|DROP PARTITION …`,
    /// `OPTIMIZE TABLE t …`, `TRUNCATE TABLE t`) as it runs here: as written on one server, on
    /// every shard's replicas of `t_local` on a cluster.
    pub fn maintenance(&self, statement: &str) -> Result<String, WarehouseError> {
        match self.cluster_target() {
            None => Ok(statement.to_owned()),
            Some(target) => target.maintenance(statement).map_err(WarehouseError::Unsupported),
        }
    }
}

/// Every replica of `cluster`'s shards, as `remote()` takes them (`host:port,host:port`).
pub async fn cluster_replicas(client: &Client, cluster: &str) -> Result<String, WarehouseError> {
    client
        .query(sightline_schemas::queries::CLUSTER_REPLICAS)
        .bind(cluster)
        .fetch_one()
        .await
        .map_err(query_error(format!("listing the replicas of cluster {cluster}")))
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
///
/// On a cluster each statement runs in its cluster form (`sightline_schemas::cluster`), `ON CLUSTER`,
/// and the history is one replicated table every server holds. Two runners at once (two hosts
/// starting) are safe for the same reason a repeated run is: each statement is idempotent, every
/// table a backfill fills merges repeated rows away (replacing or aggregating sets and maxima), and
/// the history is read grouped by version.
pub async fn migrate(settings: &ClickHouseSettings) -> Result<Vec<u32>, WarehouseError> {
    apply_migrations(settings, CLICKHOUSE_MIGRATIONS).await
}

/// [`migrate`] with an explicit migration list (tests use it).
pub async fn apply_migrations(
    settings: &ClickHouseSettings,
    migrations: &[Migration],
) -> Result<Vec<u32>, WarehouseError> {
    let database = &settings.database;
    let cluster = settings.cluster_target();
    let create_database = match cluster {
        Some(target) => target.create_database(),
        None => format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
    };
    settings
        .server_client()
        .query(&create_database)
        .execute()
        .await
        .map_err(query_error(format!("creating database {database}")))?;
    let client = settings.read_client();
    let history = cluster.map_or_else(|| queries::MIGRATION_HISTORY_DDL.to_owned(), |target| target.history_table());
    client.query(&history).execute().await.map_err(query_error("creating schema_migrations"))?;
    let applied = migration_history(&client).await?;

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
        let mut statements = Vec::new();
        for statement in migration.statements() {
            match cluster {
                Some(target) => statements.extend(target.statements(&statement)?),
                None => statements.push(statement),
            }
        }
        let mut applied_elsewhere = false;
        for statement in statements {
            match client.query(&statement).execute().await {
                Ok(()) => {}
                Err(error) if column_already_added(&statement, &error) => {}
                Err(error) => {
                    // A runner ahead of this one may have applied this migration and a later one
                    // that undoes what this statement needs (a backfill from a table dropped since).
                    if recorded_elsewhere(&client, migration, cluster.is_some()).await? {
                        applied_elsewhere = true;
                        break;
                    }
                    return Err(query_error(format!("applying migration {} ({})", migration.version, migration.name))(
                        error,
                    ));
                }
            }
        }
        if applied_elsewhere {
            tracing::info!(version = migration.version, name = migration.name, %database, "clickhouse migration applied by another runner");
            continue;
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

/// The migrations recorded as applied, one row per version.
async fn migration_history(client: &Client) -> Result<Vec<AppliedMigration>, WarehouseError> {
    client.query(queries::MIGRATION_HISTORY).fetch_all().await.map_err(query_error("reading schema_migrations"))
}

/// Whether another runner recorded `migration` (with the same file): on a cluster the history
/// reaches this server by replication, so it is looked for during [`HISTORY_REPLICATION_WAIT`].
async fn recorded_elsewhere(client: &Client, migration: &Migration, on_cluster: bool) -> Result<bool, WarehouseError> {
    let deadline = std::time::Instant::now() + if on_cluster { HISTORY_REPLICATION_WAIT } else { Duration::ZERO };
    loop {
        let applied = migration_history(client).await?;
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            return Ok(done.checksum == migration.checksum());
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How long a runner on a cluster looks for another runner's record of a migration whose statement
/// failed here, before reporting the failure.
const HISTORY_REPLICATION_WAIT: Duration = Duration::from_secs(10);

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
