//! `make bench-cluster`: the warehouse on the stack's ClickHouse cluster (2 shards x 2 replicas,
//! four `clickhouse-server` processes and ZooKeeper on this machine) against one server, on the same
//! generated events, with release builds of `sightline-writer` and `sightline-query`.
//!
//! - **Writes**: `BENCH_EVENTS` (default 20,000) generated events are produced once to a topic; each
//!   round a writer lands all of them from the topic's start (a consumer group of its own) into a
//!   fresh database, on one server or on the cluster, the two alternating for `BENCH_ROUNDS` (default
//!   3) rounds. Events/s from the writer's first insert to the last event counted; prints
//!   `cluster_write_ratio=` (cluster / one server, the median of the rounds).
//! - **Reads**: a query service over each landed copy; 12 analyst reads over the hour(s) of the
//!   first 5,000 events (about 1,250 tracks of each copy's), `BENCH_SAMPLES` (default 20) each, alternating the two services sample by sample on kept-alive connections; prints each
//!   read's p95 on both and `cluster_query_p95_ratio=` (the median over the reads of cluster p95 / one
//!   server p95).
//! - **20 analysts at once**: 20 connections each asking the same reads in turn for
//!   `BENCH_SECONDS` (default 10) against one service, then the other, for the rounds; prints
//!   requests/s and `cluster_concurrent_rps_ratio=` (cluster / one server, median).
//!
//! On one machine the cluster's servers share its two cores, so these ratios measure the cluster's
//! overhead (the Distributed tables, the insert fan-out, replication), not its capacity: a cluster
//! of N machines has N times the cores. docs/warehouse.md says how to read them.

// A benchmark: a failed expectation ends it with a message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::auth::Role;
use sightline_common::warehouse::{self, ClickHouseSettings};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce};
use sightline_testkit::rounds::{env_number, median, quantile, rate_until, summary};
use sightline_testkit::stack::{self, HttpConnection, Isolation, ServiceProcess, TestDatabase};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-cluster-analyst";

/// Lands the whole topic of `iso` into `settings`' fresh database with a writer of its own group;
/// its events per second.
async fn land(iso: &Isolation, settings: &ClickHouseSettings, events: u64, round: usize) -> anyhow::Result<f64> {
    warehouse::migrate(settings).await?;
    let group = Isolation { group: format!("{}-{}-{round}", iso.group, settings.database), ..iso.clone() };
    let writer = ServiceProcess::writer(&group, settings, &[], &[])?;
    let inserted = || writer.metric("sightline_writer_inserted_total").unwrap_or(0.0) as u64;
    let rate = rate_until("the writer", events, Duration::from_secs(600), inserted, inserted).await?;
    writer.terminate(Duration::from_secs(30));
    Ok(rate)
}

/// The analyst reads over the whole hours `events` span.
fn reads(events: &[sightline_schemas::v1::EnrichedEvent]) -> Vec<String> {
    let capture = |e: &sightline_schemas::v1::EnrichedEvent| e.detection.as_ref().map_or(0, |d| d.capture_time_ms);
    let hour = 3_600_000;
    let from = events.iter().map(capture).min().unwrap_or(0) / hour * hour;
    let to = (events.iter().map(capture).max().unwrap_or(0) / hour + 1) * hour;
    let range = format!("from={from}&to={to}");
    let person = events.iter().flat_map(|e| &e.matches).next().expect("a matched event").person_id.clone();
    vec![
        format!("/v1/events?{range}&limit=100"),
        format!("/v1/events?{range}&limit=100&matched=true"),
        format!("/v1/events?{range}&limit=50&kind=face&site=site-b"),
        format!("/v1/events/{}", events[17].event_id),
        format!("/v1/stats/timeline?{range}&bucket=minute"),
        format!("/v1/stats/timeline?{range}&bucket=hour"),
        format!("/v1/stats/streams?{range}"),
        format!("/v1/stats/persons?{range}&limit=100"),
        format!("/v1/stats/identified?{range}"),
        format!("/v1/stats/dwell?{range}"),
        format!("/v1/stats/visits?{range}&person={person}"),
        format!("/v1/reports/events.csv?{range}"),
    ]
}

/// One read through `connection`, timed; an answer other than 200 ends the benchmark.
fn timed(connection: &mut HttpConnection, path: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let response = connection.exchange("GET", path, Some(TOKEN))?;
    anyhow::ensure!(response.status == 200, "{path}: {}", response.status);
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Requests per second that 20 analysts at once get from the service on `port` in `seconds`.
async fn concurrent_rps(port: u16, paths: &[String], seconds: u64) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut analysts = Vec::new();
    for analyst in 0..20 {
        let paths = paths.to_vec();
        analysts.push(tokio::task::spawn_blocking(move || {
            let mut connection = HttpConnection::new(port);
            let mut done = 0u64;
            while Instant::now() < deadline {
                timed(&mut connection, &paths[(analyst + done as usize) % paths.len()])?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for analyst in analysts {
        total += analyst.await??;
    }
    Ok(total as f64 / seconds as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    let events = env_number("BENCH_EVENTS", 20_000) as u64;
    let rounds = env_number("BENCH_ROUNDS", 3);
    let samples = env_number("BENCH_SAMPLES", 20);
    let seconds = env_number("BENCH_SECONDS", 10) as u64;
    let iso = Isolation::new("benchcluster", 6).await?;
    let generator = EventGenerator::new(LoadProfile { seed: 55, streams: 24, ..Default::default() });
    produce(&stack::kafka(), &iso.topic, &generator, 0, events, None).await?;
    println!("bench-cluster: {events} events, one server against the 2x2 cluster, {rounds} rounds");

    // Writes, alternating.
    let (mut one, mut cluster) = (Vec::new(), Vec::new());
    let database = |kind: &str, round: usize| format!("{}_{kind}_{round}", iso.database);
    for round in 0..rounds {
        let single = stack::clickhouse(&database("one", round));
        one.push(land(&iso, &single, events, round).await?);
        let spread = stack::cluster(&database("cluster", round), 0);
        cluster.push(land(&iso, &spread, events, round).await?);
        println!("  round {round}: one server {:.0} events/s, cluster {:.0} events/s", one[round], cluster[round]);
    }
    let ratios: Vec<f64> = one.iter().zip(&cluster).map(|(o, c)| c / o).collect();
    println!("writer events/s: one server {}, cluster {}", summary(&one), summary(&cluster));
    println!("cluster_write_ratio={:.2}", median(&ratios));

    // Reads, on the last round's copies.
    let db = TestDatabase::create("bench_cluster").await?;
    sightline_common::auth::register(&db.pool, "analyst", TOKEN, Role::Analyst).await?;
    let last = rounds - 1;
    let (single, spread) = (stack::clickhouse(&database("one", last)), stack::cluster(&database("cluster", last), 0));
    let (_one_query, one_port) = ServiceProcess::query_api(&db.url, &single, &format!("{}-one", iso.group)).await?;
    let (_cluster_query, cluster_port) =
        ServiceProcess::query_api(&db.url, &spread, &format!("{}-cluster", iso.group)).await?;
    let all: Vec<_> = (0..events.min(5_000)).map(|i| generator.event(i)).collect();
    let paths = reads(&all);
    let (mut one_conn, mut cluster_conn) = (HttpConnection::new(one_port), HttpConnection::new(cluster_port));
    let mut p95_ratios = Vec::new();
    for path in &paths {
        // A first read of each, uncounted: it fills the hourly caches on both.
        timed(&mut one_conn, path)?;
        timed(&mut cluster_conn, path)?;
        let (mut one_ms, mut cluster_ms) = (Vec::new(), Vec::new());
        for _ in 0..samples {
            one_ms.push(timed(&mut one_conn, path)?);
            cluster_ms.push(timed(&mut cluster_conn, path)?);
        }
        let (one_p95, cluster_p95) = (quantile(&one_ms, 0.95), quantile(&cluster_ms, 0.95));
        p95_ratios.push(cluster_p95 / one_p95);
        println!("  {path}: p95 one server {one_p95:.1} ms, cluster {cluster_p95:.1} ms");
    }
    println!("cluster_query_p95_ratio={:.2}", median(&p95_ratios));

    // 20 analysts at once, alternating.
    let (mut one_rps, mut cluster_rps) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        one_rps.push(concurrent_rps(one_port, &paths, seconds).await?);
        cluster_rps.push(concurrent_rps(cluster_port, &paths, seconds).await?);
    }
    let ratios: Vec<f64> = one_rps.iter().zip(&cluster_rps).map(|(o, c)| c / o).collect();
    println!("20 analysts, requests/s: one server {}, cluster {}", summary(&one_rps), summary(&cluster_rps));
    println!("cluster_concurrent_rps_ratio={:.2}", median(&ratios));

    for round in 0..rounds {
        let name = database("cluster", round);
        let settings = stack::cluster(&name, 0);
        let drop = format!("DROP DATABASE IF EXISTS `{name}` ON CLUSTER `{}`", settings.cluster);
        settings.server_client().query(&drop).execute().await?;
        let single = stack::clickhouse(&database("one", round));
        single.server_client().query(&format!("DROP DATABASE IF EXISTS `{}`", single.database)).execute().await?;
    }
    db.remove().await
}
