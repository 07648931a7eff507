//! The migration runners on the real servers: ClickHouse 18.16 and PostgreSQL 15.

use sightline_common::warehouse::{WarehouseError, apply_migrations, migrate};
use sightline_schemas::{CLICKHOUSE_MIGRATIONS, Migration, POSTGRES_MIGRATIONS};
use sightline_testkit::stack;
use sqlx::{Connection, Executor, PgConnection};

fn fresh_name(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[tokio::test]
async fn clickhouse_migrations_apply_once_and_refuse_edits() -> anyhow::Result<()> {
    let settings = stack::clickhouse(&fresh_name("test_migrate"));
    let applied = migrate(&settings).await?;
    assert_eq!(applied, CLICKHOUSE_MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    assert!(migrate(&settings).await?.is_empty(), "a second run applies nothing");

    let client = settings.read_client();
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
        .fetch_all()
        .await?;
    assert_eq!(tables, ["best_shots", "events", "matches", "schema_migrations"]);
    let recorded: u64 = client.query("SELECT uniqExact(version) FROM schema_migrations").fetch_one().await?;
    assert_eq!(recorded, CLICKHOUSE_MIGRATIONS.len() as u64);

    // An applied migration whose text changed is refused, naming it.
    let first = CLICKHOUSE_MIGRATIONS[0];
    let edited = [Migration { sql: "CREATE TABLE IF NOT EXISTS other (x UInt8) ENGINE = Memory", ..first }];
    match apply_migrations(&settings, &edited).await {
        Err(WarehouseError::MigrationChanged { version, .. }) => assert_eq!(version, first.version),
        other => panic!("expected MigrationChanged, got {other:?}"),
    }
    // A new migration is applied after the recorded ones.
    let next =
        Migration { version: 9_999, name: "probe", sql: "CREATE TABLE IF NOT EXISTS probe (x UInt8) ENGINE = Memory;" };
    let with_next: Vec<Migration> = CLICKHOUSE_MIGRATIONS.iter().copied().chain([next]).collect();
    assert_eq!(apply_migrations(&settings, &with_next).await?, vec![9_999]);
    client.query(&format!("DROP DATABASE `{}`", settings.database)).execute().await?;
    Ok(())
}

#[tokio::test]
async fn postgres_migrations_apply_in_a_fresh_database() -> anyhow::Result<()> {
    let admin_url = stack::postgres_url();
    let database = fresh_name("test_migrate");
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await?;
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => anyhow::bail!("unexpected postgres url {admin_url}"),
    };

    let pool = sightline_common::relational::migrate(&url).await?;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&pool)
        .await?;
    assert_eq!(versions, POSTGRES_MIGRATIONS.iter().map(|m| i64::from(m.version)).collect::<Vec<_>>());
    // The tables exist and enforce their constraints.
    sqlx::query("INSERT INTO api_tokens (name, token_sha256, role) VALUES ('ci', '\\x00', 'analyst')")
        .execute(&pool)
        .await?;
    let bad_role = sqlx::query("INSERT INTO api_tokens (name, token_sha256, role) VALUES ('x', '\\x01', 'root')")
        .execute(&pool)
        .await;
    assert!(bad_role.is_err(), "an unknown role is rejected");
    // Running again is a no-op.
    sightline_common::relational::migrator().run(&pool).await?;
    pool.close().await;
    admin.execute(format!("DROP DATABASE {database}").as_str()).await?;
    Ok(())
}
