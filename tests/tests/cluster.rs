//! The warehouse on a ClickHouse cluster: the local stack's `sightline` cluster, four real
//! ClickHouse 18.16 servers as 2 shards x 2 replicas coordinated by ZooKeeper (`infra/stack`).
//!
//! - The migrations, run from two servers at once, build replicated shard-local tables under
//!   `Distributed` ones on every server, and record every version on every server.
//! - Writers land 20,000 generated events through Kafka into the cluster while one of them is
//!   killed, and one replica of each shard in turn: each event is visible once, each stream's rows
//!   are on one shard, both replicas of a shard agree, and the query API over the cluster answers
//!   every analyst read exactly as over one server holding the same events.
//! - With both replicas of a shard down, the query API answers 503 naming them, not a partial count.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;
use sightline_common::auth::Role;
use sightline_common::warehouse::{self, ClickHouseSettings};
use sightline_schemas::CLICKHOUSE_MIGRATIONS;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce};
use sightline_testkit::stack::{
    self, Isolation, ServiceProcess, TestDatabase, event_counts, event_ids, eventually, http_request,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const EVENTS: u64 = 20_000;
const ANALYST: &str = "analyst-secret";

/// The cluster's servers, in shard order.
const SERVERS: usize = 4;

/// The tests here take turns: one kills the cluster's servers, which the other's distributed DDL
/// would wait for.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The settings of `database` on server `server` of the cluster, with a client bound to the
/// server's own tables (no cluster mode: reads the `_local` tables as they are).
fn on_server(database: &str, server: usize) -> ClickHouseSettings {
    ClickHouseSettings { cluster: String::new(), ..stack::cluster(database, server) }
}

/// Drops `database` on every server of the cluster (with its replicas' ZooKeeper entries).
async fn drop_cluster_database(database: &str) -> anyhow::Result<()> {
    let settings = stack::cluster(database, 0);
    settings
        .server_client()
        .query(&format!("DROP DATABASE IF EXISTS `{database}` ON CLUSTER `{}`", settings.cluster))
        .execute()
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_two_hosts_migrating_at_once_build_the_cluster() -> anyhow::Result<()> {
    let _cluster = CLUSTER.lock().await;
    let database = format!("test_cluster_{}", stack::random_tag());
    let (host_a, host_b) = (stack::cluster(&database, 0), stack::cluster(&database, 2));
    let (first, second) = tokio::join!(warehouse::migrate(&host_a), warehouse::migrate(&host_b));
    let (first, second) = (first?, second?);
    let all: Vec<u32> = CLICKHOUSE_MIGRATIONS.iter().map(|m| m.version).collect();
    assert!(!first.is_empty() || !second.is_empty(), "someone applied the migrations");
    for applied in [&first, &second] {
        assert!(applied.iter().all(|v| all.contains(v)), "{applied:?}");
    }

    for server in 0..SERVERS {
        let client = on_server(&database, server).read_client();
        // Every server holds the whole history (one replicated table).
        eventually(Duration::from_secs(30), "the history on every server", || async {
            let versions: u64 = client.query("SELECT uniqExact(version) FROM schema_migrations").fetch_one().await?;
            Ok((versions == all.len() as u64).then_some(()))
        })
        .await?;
        let tables: BTreeMap<String, String> = client
            .query("SELECT name, engine FROM system.tables WHERE database = currentDatabase()")
            .fetch_all::<(String, String)>()
            .await?
            .into_iter()
            .collect();
        for (table, engine) in [
            ("events", "ReplacingMergeTree"),
            ("tracks", "ReplacingMergeTree"),
            ("matches", "ReplacingMergeTree"),
            ("best_shot_jpegs", "ReplacingMergeTree"),
            ("track_hour_sets", "AggregatingMergeTree"),
            ("erasure_targets", "MergeTree"),
        ] {
            assert_eq!(tables.get(&format!("{table}_local")), Some(&format!("Replicated{engine}")), "server {server}");
            assert_eq!(tables.get(table).map(String::as_str), Some("Distributed"), "server {server}: {table}");
        }
        assert_eq!(tables.get("event_keys_mv").map(String::as_str), Some("MaterializedView"), "server {server}");
        assert!(!tables.contains_key("best_shots") && !tables.contains_key("best_shots_local"), "dropped on {server}");
        // The columns added by later migrations are in both tables.
        let clip_columns: u64 = client
            .query("SELECT count() FROM system.columns WHERE database = currentDatabase() AND name = 'clip_key'")
            .fetch_one()
            .await?;
        assert_eq!(clip_columns, 2, "tracks and tracks_local on server {server}");
        assert_eq!(tables.get("schema_migrations").map(String::as_str), Some("ReplicatedMergeTree"));
    }
    // Once applied anywhere, applied everywhere.
    assert_eq!(warehouse::migrate(&stack::cluster(&database, 3)).await?, Vec::<u32>::new());
    drop_cluster_database(&database).await
}

/// GETs `path` as the analyst: (status, JSON body, or the text as a JSON string).
fn get(port: u16, path: &str) -> anyhow::Result<(u16, Value)> {
    let (status, body) = http_request(port, "GET", path, Some(ANALYST), "", b"")?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::String(body))))
}

/// The pid file of server `server` (0-3) of the cluster, as `infra/stack` writes it.
fn server_pid_file(server: usize) -> PathBuf {
    let dir = std::env::var("SIGHTLINE_CLUSTER_PID_DIR").map_or_else(|_| stack::data_dir().join("run"), PathBuf::from);
    dir.join(format!("clickhouse-cluster-{}.pid", server + 1))
}

/// Kills server `server` of the cluster with SIGKILL and waits until it no longer answers.
async fn kill_server(server: usize) -> anyhow::Result<()> {
    let pid = std::fs::read_to_string(server_pid_file(server))?;
    let status = Command::new("kill").arg("-KILL").arg(pid.trim()).status()?;
    anyhow::ensure!(status.success(), "kill -KILL {} (cluster server {server})", pid.trim());
    let settings = stack::cluster("system", server);
    eventually(Duration::from_secs(30), "the killed server to stop answering", || async {
        Ok(warehouse::ping(&settings).await.is_err().then_some(()))
    })
    .await
}

/// Starts what is missing of the cluster again (`infra/stack cluster-up`) and waits for it.
fn restart_servers() -> anyhow::Result<()> {
    let status = Command::new(stack::repo_root().join("infra/stack")).arg("cluster-up").status()?;
    anyhow::ensure!(status.success(), "infra/stack cluster-up failed");
    Ok(())
}

/// The distinct events per stream in server `server`'s own `events_local`.
async fn server_streams(database: &str, server: usize) -> anyhow::Result<Vec<(String, u64)>> {
    let query = "SELECT stream_id, uniqExact(event_id) FROM events_local GROUP BY stream_id ORDER BY stream_id";
    Ok(on_server(database, server).read_client().query(query).fetch_all().await?)
}

#[tokio::test]
async fn b_the_cluster_lands_each_event_once_through_failures_and_answers_as_one_server() -> anyhow::Result<()> {
    let _cluster = CLUSTER.lock().await;
    let single_iso = Isolation::new("cluster", 3).await?;
    // The same topic, read by a second group into the cluster.
    let cluster_iso = Isolation {
        group: format!("{}-cluster", single_iso.group),
        database: format!("{}_cluster", single_iso.database),
        ..single_iso.clone()
    };
    let single = stack::clickhouse(&single_iso.database);
    // Servers 1 and 3 (each shard's second replica) are killed in turn; everything else goes
    // through servers 0 and 2.
    let cluster = stack::cluster(&cluster_iso.database, 0);
    // Migrated first, as a deployment does, so that the writers are landing while events flow.
    warehouse::migrate(&cluster).await?;
    let _single_writer = ServiceProcess::writer(&single_iso, &single, &[], &[])?;
    // Two writers in one group, on different shards' servers; the first is killed mid-stream.
    let doomed = ServiceProcess::writer(&cluster_iso, &cluster, &[], &[])?;
    let second = ServiceProcess::writer(&cluster_iso, &stack::cluster(&cluster_iso.database, 2), &[], &[])?;
    for writer in [&doomed, &second] {
        writer.wait_ready(Duration::from_secs(60), "the cluster writers to be ready").await?;
    }
    let generator = || EventGenerator::new(LoadProfile { seed: 28, streams: 12, ..Default::default() });
    let producer = {
        let (topic, generator) = (single_iso.topic.clone(), generator());
        tokio::spawn(async move { produce(&stack::kafka(), &topic, &generator, 0, EVENTS, Some(800.0)).await })
    };
    let landed = eventually(Duration::from_secs(120), "the first cluster writer to land events", || async {
        let inserted = doomed.metric("sightline_writer_inserted_total").unwrap_or(0.0);
        Ok((inserted >= 500.0).then_some(inserted))
    })
    .await;
    let other = second.metric("sightline_writer_inserted_total").unwrap_or(-1.0);
    let landed = landed.map_err(|error| error.context(format!("the other writer inserted {other}")))?;
    doomed.kill();
    assert!(landed < EVENTS as f64, "killed mid-stream: {landed} inserted");
    let _replacement = ServiceProcess::writer(&cluster_iso, &cluster, &[], &[])?;
    // One replica of each shard killed and restarted in turn while events land.
    let mut visible_at_kills = Vec::new();
    for server in [1, 3] {
        kill_server(server).await?;
        visible_at_kills.push(event_counts(&cluster).await?.0);
        tokio::time::sleep(Duration::from_secs(4)).await;
        restart_servers()?;
    }
    let produced = producer.await??;
    assert!(visible_at_kills.iter().all(|&v| v < EVENTS), "the replicas died mid-stream: {visible_at_kills:?}");

    for settings in [&single, &cluster] {
        eventually(Duration::from_secs(240), "every event to land", || async {
            let (visible, _) = event_counts(settings).await?;
            anyhow::ensure!(visible <= EVENTS, "{visible} visible events, more than the {EVENTS} produced");
            Ok((visible == EVENTS).then_some(()))
        })
        .await?;
    }
    let mut want = produced.clone();
    want.sort();
    assert_eq!(event_counts(&cluster).await?, (EVENTS, EVENTS), "visible rows and distinct ids on the cluster");
    assert_eq!(event_ids(&cluster).await?, want, "the cluster shows exactly the produced events");

    // Each stream on one shard, the shards' streams apart, and a shard's replicas alike (the
    // restarted ones caught up).
    let mut shards = Vec::new();
    for first in [0, 2] {
        let rows = eventually(Duration::from_secs(120), "the replicas of a shard to agree", || async {
            let (one, other) = (
                server_streams(&cluster_iso.database, first).await?,
                server_streams(&cluster_iso.database, first + 1).await?,
            );
            Ok((one == other && !one.is_empty()).then_some(one))
        })
        .await?;
        shards.push(rows);
    }
    let streams = |rows: &Vec<(String, u64)>| rows.iter().map(|(s, _)| s.clone()).collect::<BTreeSet<_>>();
    let (shard_1, shard_2) = (streams(&shards[0]), streams(&shards[1]));
    assert!(shard_1.is_disjoint(&shard_2), "a stream on both shards: {shard_1:?} {shard_2:?}");
    let events_by_shard: u64 = shards.iter().flat_map(|r| r.iter().map(|(_, n)| n)).sum();
    assert_eq!(events_by_shard, EVENTS, "the shards' events add up");

    // The query API over either answers the same, for every analyst read.
    let db = TestDatabase::create("test_cluster").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    let (_single_query, single_port) = ServiceProcess::query_api(&db.url, &single, &single_iso.group).await?;
    let (_cluster_query, cluster_port) = ServiceProcess::query_api(&db.url, &cluster, &cluster_iso.group).await?;
    let generator = generator();
    let events: Vec<_> = (0..EVENTS).map(|i| generator.event(i)).collect();
    let capture = |e: &sightline_schemas::v1::EnrichedEvent| e.detection.as_ref().map_or(0, |d| d.capture_time_ms);
    let hour = 3_600_000;
    let from = events.iter().map(capture).min().unwrap_or(0) / hour * hour - hour;
    let to = (events.iter().map(capture).max().unwrap_or(0) / hour + 2) * hour;
    let range = format!("from={from}&to={to}");
    let person = events.iter().flat_map(|e| &e.matches).next().expect("a matched event").person_id.clone();
    let sample = &events[17].event_id;
    let mut paths = vec![
        format!("/v1/events?{range}&limit=1000"),
        format!("/v1/events?{range}&limit=1000&matched=true"),
        format!("/v1/events?{range}&limit=50&kind=face&site=site-b"),
        format!("/v1/events?{range}&limit=1000&person={person}"),
        format!("/v1/events/{sample}"),
        format!("/v1/stats/timeline?{range}&bucket=minute"),
        format!("/v1/stats/timeline?{range}&bucket=hour"),
        format!("/v1/stats/streams?{range}"),
        format!("/v1/stats/persons?{range}&limit=1000"),
        format!("/v1/stats/identified?{range}"),
        format!("/v1/stats/dwell?{range}"),
        format!("/v1/stats/heatmap?{range}&stream=cam-01"),
        format!("/v1/stats/visits?{range}&person={person}"),
        format!("/v1/reports/events.csv?{range}"),
    ];
    // Twice: the second reads of the hourly counts come from the caches the first filled.
    paths.extend(paths.clone());
    let same_answers = |paths: &[String]| -> anyhow::Result<usize> {
        let mut compared = 0;
        for path in paths {
            let (single_status, single_body) = get(single_port, path)?;
            let (cluster_status, cluster_body) = get(cluster_port, path)?;
            let short = |body: &Value| body.to_string().chars().take(400).collect::<String>();
            anyhow::ensure!(single_status == 200, "{path}: {}", short(&single_body));
            anyhow::ensure!(
                cluster_status == single_status && cluster_body == single_body,
                "{path}: the cluster answered {cluster_status} {}, one server {single_status} {}",
                short(&cluster_body),
                short(&single_body)
            );
            compared += 1;
        }
        Ok(compared)
    };
    assert_eq!(same_answers(&paths)?, paths.len());

    // A shard with no replica answering: 503 naming its replicas, never a count without it.
    kill_server(2).await?;
    kill_server(3).await?;
    let down = get(cluster_port, &format!("/v1/stats/streams?{range}"));
    let partial = get(cluster_port, &format!("/v1/events?{range}&limit=10"));
    restart_servers()?;
    for (status, body) in [down?, partial?] {
        assert_eq!(status, 503, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("warehouse shard 2 is down"), "{body}");
        assert!(error.contains("(127.0.0.1:19133, 127.0.0.1:19134)"), "{body}");
    }
    eventually(Duration::from_secs(60), "the shard to answer again", || async {
        Ok(same_answers(&paths[..paths.len() / 2]).ok())
    })
    .await?;
    db.remove().await?;
    drop_cluster_database(&cluster_iso.database).await
}

/// Per server of the cluster, in its own `_local` tables: (the events' reports, the events left
/// with biometrics or matches, best shots, matches, descriptors) of the tracks `tracks`
/// (`stream_id/track_id`), and the events captured before `before_ms`.
async fn server_copies(database: &str, server: usize, tracks: &[String], before_ms: i64) -> anyhow::Result<[u64; 6]> {
    let client = on_server(database, server).read_client();
    let of_tracks = "(SELECT event_id FROM events_local WHERE has(?, concat(stream_id, '/', track_id)))";
    let sql = format!(
        "SELECT (SELECT count() FROM events_local WHERE has(?, concat(stream_id, '/', track_id))), \
         (SELECT countIf(notEmpty(descriptor) OR has_best_shot = 1 OR notEmpty(matched_person_ids)) FROM events_local \
          WHERE has(?, concat(stream_id, '/', track_id))), \
         (SELECT count() FROM best_shot_jpegs_local WHERE event_id IN {of_tracks}), \
         (SELECT count() FROM matches_local WHERE event_id IN {of_tracks}), \
         (SELECT count() FROM face_descriptors_local WHERE event_id IN {of_tracks}), \
         (SELECT count() FROM events_local WHERE toUnixTimestamp(capture_time) * 1000 < ?)"
    );
    let row: (u64, u64, u64, u64, u64, u64) = client
        .query(&sql)
        .bind(tracks)
        .bind(tracks)
        .bind(tracks)
        .bind(tracks)
        .bind(tracks)
        .bind(before_ms)
        .fetch_one()
        .await?;
    Ok([row.0, row.1, row.2, row.3, row.4, row.5])
}

/// Erasure and retention through the query API over the cluster. An admin erases a watchlist
/// person: the biometric copies of their tracks leave both replicas of both shards (each shard's
/// mutations read the shard's own list of targets), the reports stay. A retention run drops the
/// partitions past their periods, read from every replica, on every shard, and keeps the rest.
#[tokio::test]
async fn c_erasure_and_retention_reach_every_shard_and_replica() -> anyhow::Result<()> {
    const ADMIN: &str = "admin-secret";
    let _cluster = CLUSTER.lock().await;
    let iso = Isolation::new("clustererase", 3).await?;
    let cluster = stack::cluster(&iso.database, 0);
    warehouse::migrate(&cluster).await?;
    let writer = ServiceProcess::writer(&iso, &cluster, &[], &[])?;
    // This hour's events, and some from 500 days ago (past the tracks' 400 days).
    let now = sightline_common::clock::now_ms();
    let long_ago = now - 500 * 86_400_000;
    let profile =
        |seed, start_ms| LoadProfile { seed, streams: 12, start_ms, reports_per_track: 2, ..Default::default() };
    let (recent, old) = (EventGenerator::new(profile(41, now - 3_600_000)), EventGenerator::new(profile(42, long_ago)));
    produce(&stack::kafka(), &iso.topic, &recent, 0, 2_000, None).await?;
    produce(&stack::kafka(), &iso.topic, &old, 0, 600, None).await?;
    eventually(Duration::from_secs(120), "every event landed", || async {
        Ok((event_counts(&cluster).await?.0 == 2_600).then_some(()))
    })
    .await?;
    assert!(writer.terminate(Duration::from_secs(30)));

    let db = TestDatabase::create("test_clustererase").await?;
    sightline_common::auth::register(&db.pool, "privacy-officer", ADMIN, Role::Admin).await?;
    let (_query, port) = ServiceProcess::query_api(&db.url, &cluster, &iso.group).await?;
    let call = |method: &str, path: &str, body: Option<Value>| stack::call(port, method, path, ADMIN, body);

    // The person matched most often this hour, on streams of both shards.
    let person = (0..2_000u64)
        .flat_map(|i| recent.event(i).matches.into_iter().map(|m| m.person_id))
        .fold(BTreeMap::<String, usize>::new(), |mut n, p| {
            *n.entry(p).or_default() += 1;
            n
        })
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p)
        .expect("a matched person");
    let request = serde_json::json!({"person_id": person, "reason": "request 28-c"});
    let (status, preview) = call("POST", "/v1/privacy/erasures/preview", Some(request.clone()))?;
    assert_eq!(status, 200, "{preview}");
    let tracks: Vec<String> = serde_json::from_value(preview["tracks"].clone())?;
    let streams: BTreeSet<&str> = tracks.iter().filter_map(|t| t.split('/').next()).collect();
    let mut shards_with_copies = BTreeSet::new();
    let mut reports_before = Vec::new();
    for server in 0..SERVERS {
        let [reports, with_biometrics, shots, matches, _, _] = server_copies(&iso.database, server, &tracks, 0).await?;
        if with_biometrics > 0 && shots + matches > 0 {
            shards_with_copies.insert(server / 2);
        }
        reports_before.push(reports);
    }
    assert_eq!(shards_with_copies.len(), 2, "the person's tracks on both shards ({streams:?})");
    let (status, receipt) = call("POST", "/v1/privacy/erasures", Some(request))?;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["counts"], preview["counts"], "the receipt counts what the preview did");
    // Every replica of every shard runs the mutations; the reports stay, emptied.
    for (server, reports) in reports_before.into_iter().enumerate() {
        let left = eventually(Duration::from_secs(120), "the copies gone from every replica", || async {
            let copies = server_copies(&iso.database, server, &tracks, 0).await?;
            Ok((copies[1..5] == [0, 0, 0, 0]).then_some(copies))
        })
        .await?;
        assert_eq!(left[0], reports, "server {server} keeps the person's reports");
    }

    // Retention: the old partitions leave every shard; this hour's events stay, each once.
    let cutoff = now - 450 * 86_400_000;
    let none = ["-/-".to_owned()];
    let mut old_before = 0;
    for server in [0, 2] {
        old_before += server_copies(&iso.database, server, &none, cutoff).await?[5];
    }
    assert_eq!(old_before, 600, "the old events are spread over both shards");
    let (status, run) = call("POST", "/v1/privacy/retention-runs", None)?;
    assert_eq!((status, &run["outcome"]), (200, &Value::from("done")), "{run}");
    let dropped = run["counts"]["partitions"].as_array().map(Vec::len).unwrap_or_default();
    assert!(dropped > 0, "partitions dropped: {run}");
    for server in 0..SERVERS {
        eventually(Duration::from_secs(60), "the old partitions gone from every replica", || async {
            Ok((server_copies(&iso.database, server, &none, cutoff).await?[5] == 0).then_some(()))
        })
        .await?;
    }
    assert_eq!(event_counts(&cluster).await?, (2_000, 2_000), "this hour's events stay");
    db.remove().await?;
    drop_cluster_database(&iso.database).await
}
