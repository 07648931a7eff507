//! The migration runners on the real servers: ClickHouse 18.16 and PostgreSQL 15.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::warehouse::{WarehouseError, apply_migrations, migrate};
use sightline_schemas::{CLICKHOUSE_MIGRATIONS, Migration, POSTGRES_MIGRATIONS};
use sightline_testkit::stack;

fn fresh_name(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[tokio::test]
async fn clickhouse_migrations_apply_once_and_refuse_edits() -> anyhow::Result<()> {
    let settings = stack::clickhouse(&fresh_name("test_migrate"));
    // The first release's tables, with an event landed in them.
    assert_eq!(apply_migrations(&settings, &CLICKHOUSE_MIGRATIONS[..1]).await?, vec![1]);
    let client = settings.read_client();
    client
        .query(
            "INSERT INTO events (event_id, detection_event_id, schema_version, stream_id, site, capture_time, \
             capture_ms, track_id, kind, first_seen_ms, last_seen_ms, matched_list_ids, matched_person_ids, \
             enriched_ms) SELECT toUUID('5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'), toUUID('5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a12'), 1, 'cam-1', 'hq', toDateTime(1795168800), \
             1795168800000, 'track-1', 'face', 1795168799000, 1795168801000, ['list-1'], ['person-1'], 1795168802000",
        )
        .execute()
        .await?;
    client
        .query(
            "INSERT INTO matches (event_id, capture_time, capture_ms, stream_id, site, list_id, list_name, person_id, \
             person_external_id, person_display_name, similarity, rank, threshold) SELECT \
             toUUID('5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'), toDateTime(1795168800), 1795168800000, 'cam-1', 'hq', \
             'list-1', 'VIP', 'person-1', 'EXT-1', 'Person One', 0.9, 1, 0.5",
        )
        .execute()
        .await?;
    client
        .query(
            "INSERT INTO best_shots (event_id, capture_time, stream_id, jpeg) SELECT \
             toUUID('5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11'), toDateTime(1795168800), 'cam-1', 'jpeg-bytes'",
        )
        .execute()
        .await?;
    let applied = migrate(&settings).await?;
    assert_eq!(applied, CLICKHOUSE_MIGRATIONS[1..].iter().map(|m| m.version).collect::<Vec<_>>());
    assert!(migrate(&settings).await?.is_empty(), "a second run applies nothing");
    // The tracks migration filled `tracks` from the events already landed.
    let track: (String, i64, String, String) = client
        .query("SELECT track_id, dwell_ms, best_person_id, best_person_display_name FROM tracks FINAL")
        .fetch_one()
        .await?;
    assert_eq!(track, ("track-1".to_owned(), 2_000, "person-1".to_owned(), "Person One".to_owned()));

    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
        .fetch_all()
        .await?;
    assert_eq!(
        tables,
        [
            "best_shot_jpegs",
            "erasure_targets",
            "event_keys",
            "event_keys_mv",
            "events",
            "face_descriptors",
            "face_descriptors_mv",
            "face_sketches",
            "face_sketches_mv",
            "identified_tracks",
            "identified_tracks_mv",
            "matches",
            "schema_migrations",
            "track_hour_sets",
            "track_hour_sets_mv",
            "tracks"
        ]
    );
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
    // A run interrupted after a column was added repeats that statement: the column found added is
    // taken as added (18.16 has no `ADD COLUMN IF NOT EXISTS`), anything else still fails.
    let repeated = Migration {
        version: 10_000,
        name: "repeated",
        sql: "CREATE TABLE IF NOT EXISTS columns_probe (x UInt8) ENGINE = MergeTree() ORDER BY x;\n\
              ALTER TABLE columns_probe ADD COLUMN y String DEFAULT '';\n\
              ALTER TABLE columns_probe ADD COLUMN y String DEFAULT '';",
    };
    let with_repeated: Vec<Migration> = with_next.iter().copied().chain([repeated]).collect();
    assert_eq!(apply_migrations(&settings, &with_repeated).await?, vec![10_000]);
    let broken = Migration { version: 10_001, name: "broken", sql: "ALTER TABLE missing ADD COLUMN y String;" };
    let with_broken: Vec<Migration> = with_repeated.iter().copied().chain([broken]).collect();
    assert!(apply_migrations(&settings, &with_broken).await.is_err(), "a missing table is still an error");
    // A best shot landed before migrations 0014 and 0015 keeps its JPEG, its new columns empty (the
    // writer moves it into the object store: tests/tests/objects.rs).
    let landed: Vec<(String, String, String, String, u8)> = client
        .query("SELECT jpeg, track_id, sealed, object_key, object_sealed FROM best_shot_jpegs")
        .fetch_all()
        .await?;
    assert_eq!(landed, [("jpeg-bytes".to_owned(), String::new(), String::new(), String::new(), 0)]);
    client.query(&format!("DROP DATABASE `{}`", settings.database)).execute().await?;
    Ok(())
}

#[tokio::test]
async fn postgres_migrations_apply_in_a_fresh_database() -> anyhow::Result<()> {
    let database = stack::TestDatabase::create("test_migrate").await?;
    let pool = database.pool.clone();
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
    watchlist_changes_are_announced_with_their_list(&pool).await?;
    // Running again is a no-op.
    sightline_common::relational::migrator().run(&pool).await?;
    database.remove().await?;
    Ok(())
}

/// Every change to a list, its people or their descriptors (including cascaded deletes) is announced
/// on `sightline_watchlists` with the list's id, which is what running enrich instances reload.
async fn watchlist_changes_are_announced_with_their_list(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen("sightline_watchlists").await?;
    let list: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO watchlists (name, threshold) VALUES ('vip', 0.6) RETURNING id")
            .fetch_one(pool)
            .await?;
    let person: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO watchlist_persons (list_id, display_name) VALUES ($1, 'Ann') RETURNING id")
            .bind(list)
            .fetch_one(pool)
            .await?;
    sqlx::query(
        "INSERT INTO person_descriptors (person_id, list_id, model_name, model_version, descriptor) \
         VALUES ($1, $2, 'm', 'v', $3)",
    )
    .bind(person)
    .bind(list)
    .bind(vec![0.6f32, 0.8])
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM watchlist_persons WHERE id = $1").bind(person).execute(pool).await?;
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM person_descriptors").fetch_one(pool).await?;
    assert_eq!(remaining, 0, "a person's descriptors go with them");
    // List, person and descriptor inserts, then the person's delete (PostgreSQL folds the cascaded
    // descriptor delete's identical notification into it: same transaction, same payload).
    for change in 0..4 {
        let notification = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await??;
        assert_eq!(notification.payload(), list.to_string(), "change {change} names its list");
    }
    let bad_threshold = sqlx::query("INSERT INTO watchlists (name, threshold) VALUES ('x', 1.5)").execute(pool).await;
    assert!(bad_threshold.is_err(), "a threshold above 1 is rejected");
    Ok(())
}

/// A pool with no connection free makes the service not ready, saying how many it holds, and ready
/// again once one frees up (`relational::watch_pool`, run by every service with a database).
#[tokio::test]
async fn an_exhausted_connection_pool_makes_the_service_not_ready() -> anyhow::Result<()> {
    use sightline_common::relational::{POOL_CONDITION, watch_pool};
    let db = stack::TestDatabase::create("test_pool").await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db.url).await?;
    let readiness = sightline_common::http::Readiness::new("starting");
    readiness.set_ready();
    let (stop, shutdown) = sightline_common::shutdown::channel();
    tokio::spawn(watch_pool(pool.clone(), readiness.clone(), shutdown));
    let held = [pool.acquire().await?, pool.acquire().await?];
    let reason = stack::eventually(std::time::Duration::from_secs(20), "not ready for want of a connection", || {
        let reason = readiness.reason();
        async move { Ok(reason.filter(|r| r.contains(POOL_CONDITION))) }
    })
    .await?;
    assert!(reason.contains("no PostgreSQL connection free within 2 s (2 open of at most 2"), "{reason}");
    drop(held);
    stack::eventually(std::time::Duration::from_secs(20), "ready once a connection is free", || {
        let ready = readiness.reason().is_none();
        async move { Ok(ready.then_some(())) }
    })
    .await?;
    stop.trigger();
    pool.close().await;
    db.remove().await
}
