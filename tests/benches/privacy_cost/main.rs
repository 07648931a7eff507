//! `make bench-privacy`: what protecting biometric data costs (docs/privacy.md).
//!
//! 1. **The hot path**, stage by stage, sealed against clear in alternating rounds (`BENCH_ROUNDS`,
//!    default 4), each round's sealed/clear ratio of the stage's rate; prints each stage's median
//!    ratio (`ingest_sealed_vs_clear=`, `enrich_sealed_vs_clear=`, `writer_sealed_vs_clear=`) and
//!    `privacy_overhead=`: 1 - the lowest of the three, the stage protection slows most (goal:
//!    under 5 %). Ingest and enrich run as their services on the test video ([`stages`]; they need
//!    `SIGHTLINE_MODELS_DIR`, without it only the writer is measured). The writer (in-process,
//!    release build) lands the same generated events
//!    sealed as ingest and enrich seal them (best shot with the track's image key, descriptor and
//!    matches with its template key, keys in PostgreSQL) and in clear (`BENCH_EVENTS` per round,
//!    default 20000, three reports per track, 1024 distinct best shots), each round a fresh group
//!    and warehouse. Before its rounds, the work sealing adds to each stage, timed outside the
//!    pipeline: ingest's and enrich's seals, the writer's key reads and openings, the query
//!    service's opening of one stored best shot.
//! 2. **Erasure**: for each size N of `BENCH_TRACKS` (default `1000000,10000000`), a warehouse of N
//!    generated tracks (`sightline_testkit::warehouse_load`, database `sightline_bench_erasure_<N>`)
//!    and N track keys in PostgreSQL; a watchlist person is erased through the query service's
//!    eraser (their tracks found and listed, keys destroyed, the warehouse's mutations run to the
//!    end), against a peer in the same process: the same erasure's preview (finding, listing and
//!    counting what it changes). The dataset is made once per day and copied by hard links for
//!    every round. Prints `erasure_<N>_s=` (goal: under 300 s at 10M) with the ratio to the
//!    preview.

// A benchmark: a failed expectation ends it with a message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use sightline_common::auth::Principal;
use sightline_common::clock::now_ms;
use sightline_common::http::Readiness;
use sightline_common::keys::{KeyStore, key_day, partition_name};
use sightline_common::privacy::PrivacySettings;
use sightline_query::erasure::{Eraser, ErasureRequest};
use sightline_testkit::loadgen::{EventGenerator, EventSealer, LoadProfile, produce_events};
use sightline_testkit::rounds::{env_number, median, process_cpu_seconds, rate_until, summary};
use sightline_testkit::stack::{self, Isolation, TestDatabase};
use sightline_testkit::warehouse_load::{WarehouseLoad, person_id};
use sightline_writer::metrics::WriterMetrics;
use sightline_writer::settings::WriterSettings;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;
/// Distinct best shots the generated events cycle through (about 15 MB of JPEGs): a repeat lies far
/// beyond any compression window or block of the warehouse.
const DISTINCT_BEST_SHOTS: usize = 1024;

mod stages;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds = env_number("BENCH_ROUNDS", 4).max(1);
    let mut stages = Vec::new();
    if std::env::var_os("SIGHTLINE_MODELS_DIR").is_some() {
        let ratios = stages::ingest_and_enrich(rounds).await?;
        stages.push(("ingest", ratios.ingest));
        stages.push(("enrich", ratios.enrich));
    } else {
        println!("ingest and enrich not measured: SIGHTLINE_MODELS_DIR is not set (run `make bench-privacy`)");
    }
    stages.push(("writer", hot_path(rounds).await?));
    for (stage, ratios) in &stages {
        println!("{stage}_sealed_vs_clear={:.3}", median(ratios));
        println!("spread: {stage}_sealed_vs_clear {}", summary(ratios));
    }
    let slowest = stages.iter().map(|(_, ratios)| median(ratios)).fold(f64::INFINITY, f64::min);
    println!("privacy_overhead={:.1}%", (1.0 - slowest) * 100.0);
    let sizes = std::env::var("BENCH_TRACKS").unwrap_or_else(|_| "1000000,10000000".into());
    for size in sizes.split(',').filter_map(|s| s.trim().parse::<u64>().ok()) {
        erasure(size).await?;
    }
    Ok(())
}

/// The writer on sealed events against the same events in clear: each round's sealed/clear ratio.
async fn hot_path(rounds: usize) -> anyhow::Result<Vec<f64>> {
    let events = env_number("BENCH_EVENTS", 20_000) as u64;
    let db = TestDatabase::create("bench_privacy").await?;
    let privacy = PrivacySettings::default();
    let store = privacy.key_store(Default::default(), db.pool.clone())?;
    // As many distinct images as real best shots would be, as far as compression can tell: repeated
    // ones would compress in the warehouse in clear and not sealed.
    let profile = LoadProfile {
        reports_per_track: 3,
        start_ms: now_ms() - DAY_MS,
        step_ms: 50,
        distinct_best_shots: DISTINCT_BEST_SHOTS,
        ..Default::default()
    };
    let generator = EventGenerator::new(profile);
    let iso = Isolation::new("bench-privacy", 4).await?;
    let sealed_topic = format!("{}.sealed", iso.topic);
    let spec = sightline_common::kafka::TopicSpec {
        name: sealed_topic.clone(),
        partitions: 4,
        replication: 1,
        retention_ms: -1,
    };
    sightline_common::kafka::ensure_topics(&stack::kafka(), &[spec]).await?;
    produce_events(&stack::kafka(), &iso.topic, (0..events).map(|i| generator.event(i)), None).await?;
    let sealer = EventSealer::new(store.clone());
    let started = Instant::now();
    let sealed = seal_all(&generator, events, &sealer).await?;
    let first_pass = started.elapsed();
    println!("sealed {events} events ({} tracks, two keys each) in {:.1} s", events / 3, first_pass.as_secs_f64());
    // Ingest's and enrich's own sealed work: the same events sealed again, their keys made already
    // (what every later report of a track costs), against the first pass (which also made the keys).
    let started = Instant::now();
    seal_all(&generator, events, &sealer).await?;
    let again = started.elapsed();
    let per_event = |total: Duration| total.as_secs_f64() * 1e6 / events.max(1) as f64;
    let per_track = (first_pass.saturating_sub(again)).as_secs_f64() * 1e3 / (events / 3).max(1) as f64;
    println!(
        "ingest's and enrich's own sealed work: {:.1} us per report (both seals, keys held), \
         {per_track:.2} ms per new track (its two keys made in PostgreSQL)",
        per_event(again)
    );
    let (loading, opening) = writer_share(&sealed, &store, &privacy).await?;
    println!(
        "the writer's own sealed work per event: loading keys {loading:.1} us (one query per 512 messages), \
         opening {opening:.1} us (descriptor and matches; best shots land sealed)"
    );
    println!(
        "the query service's own work per best shot read: opening {:.1} us (its key held)",
        reader_share(&sealed, &store, &privacy).await?
    );
    produce_events(&stack::kafka(), &sealed_topic, sealed, None).await?;

    let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let run = format!("{}r{round}", iso.group);
        let clear = || writer_rate(&iso.topic, events, format!("{run}c"), &store, &privacy);
        let sealed = || writer_rate(&sealed_topic, events, format!("{run}s"), &store, &privacy);
        let (clear, sealed) = if round % 2 == 1 {
            let clear = clear().await?;
            (clear, sealed().await?)
        } else {
            let sealed = sealed().await?;
            (clear().await?, sealed)
        };
        println!(
            "round {round}: writer clear={:.0} sealed={:.0} events/s, CPU clear={:.0} sealed={:.0} us/event; \
             sealed/clear={:.3}",
            clear.rate,
            sealed.rate,
            clear.cpu_us,
            sealed.cpu_us,
            sealed.rate / clear.rate
        );
        ratios.push(sealed.rate / clear.rate);
        cpu_ratios.push(sealed.cpu_us / clear.cpu_us);
    }
    // What the broker and ClickHouse sharing the machine's cores do not blur: the writer's own CPU.
    println!("writer_cpu_sealed_vs_clear={:.3}", median(&cpu_ratios));
    println!("spread: writer_cpu_sealed_vs_clear {}", summary(&cpu_ratios));
    db.remove().await?;
    Ok(ratios)
}

/// Events `0..count` of `generator`, sealed by `sealer` as ingest and enrich seal them.
async fn seal_all(
    generator: &EventGenerator,
    count: u64,
    sealer: &EventSealer,
) -> anyhow::Result<Vec<sightline_schemas::v1::EnrichedEvent>> {
    let mut sealed = Vec::with_capacity(count as usize);
    for index in 0..count {
        sealed.push(sealer.seal(generator.event(index)).await?);
    }
    Ok(sealed)
}

/// What the writer does for sealed events beyond clear ones, in µs per event: loading the keys
/// (in reads of 512 messages, as the writer's consumer hands them over) and opening the fields.
async fn writer_share(
    sealed: &[sightline_schemas::v1::EnrichedEvent],
    store: &Arc<KeyStore>,
    privacy: &PrivacySettings,
) -> anyhow::Result<(f64, f64)> {
    let ring = privacy.key_ring(store.clone());
    let (mut loading, mut opening) = (Duration::ZERO, Duration::ZERO);
    for chunk in sealed.chunks(512) {
        let started = Instant::now();
        ring.load(chunk.iter().flat_map(sightline_common::sealing::sealed_parts)).await?;
        loading += started.elapsed();
        let mut events = chunk.to_vec();
        let started = Instant::now();
        for event in &mut events {
            sightline_common::sealing::open_enriched_keeping_images(event, &ring)?;
        }
        opening += started.elapsed();
    }
    let per_event = |total: Duration| total.as_secs_f64() * 1e6 / sealed.len().max(1) as f64;
    Ok((per_event(loading), per_event(opening)))
}

/// What reading one best shot the warehouse keeps sealed costs the query service beyond reading it
/// in clear, in µs: opening it with its key held (the key itself is read once per track and kept).
async fn reader_share(
    sealed: &[sightline_schemas::v1::EnrichedEvent],
    store: &Arc<KeyStore>,
    privacy: &PrivacySettings,
) -> anyhow::Result<f64> {
    use prost::Message as _;
    let ring = privacy.key_ring(store.clone());
    let stored: Vec<(Vec<u8>, &str, &str)> = sealed
        .iter()
        .filter_map(|event| event.detection.as_ref())
        .filter_map(|d| d.sealed.as_ref().map(|s| (s.encode_to_vec(), d.stream_id.as_str(), d.track_id.as_str())))
        .take(2_000)
        .collect();
    for (bytes, stream, track) in &stored {
        sightline_common::sealing::open_stored_best_shot(&ring, bytes, stream, track).await?;
    }
    let started = Instant::now();
    for (bytes, stream, track) in &stored {
        let jpeg = sightline_common::sealing::open_stored_best_shot(&ring, bytes, stream, track).await?;
        anyhow::ensure!(jpeg.is_some_and(|j| j.starts_with(&[0xff, 0xd8])), "a best shot opens to its JPEG");
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / stored.len().max(1) as f64)
}

/// One writer run: its events/s (first consumed to last landed) and the CPU it used per event.
struct WriterRun {
    rate: f64,
    cpu_us: f64,
}

/// The in-process writer on `topic`, keys from `store`: its events/s and its CPU per event (the
/// whole process's, which does nothing else meanwhile).
async fn writer_rate(
    topic: &str,
    count: u64,
    run: String,
    store: &Arc<KeyStore>,
    privacy: &PrivacySettings,
) -> anyhow::Result<WriterRun> {
    let cpu_before = process_cpu_seconds();
    let clickhouse = stack::clickhouse(&format!("bench_privacy_{run}").replace('-', "_"));
    let settings = WriterSettings {
        kafka: stack::kafka(),
        objects: stack::objects(&clickhouse.database),
        clickhouse,
        topic: topic.to_owned(),
        dlq_topic: format!("{topic}.dlq"),
        group_id: format!("bench-privacy-{run}"),
        http_addr: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let database = settings.clickhouse.clone();
    let mut registry = Registry::default();
    let metrics = WriterMetrics::register(&mut registry);
    let (trigger, shutdown) = sightline_common::shutdown::channel();
    let keys = privacy.key_ring(store.clone());
    let task = tokio::spawn(sightline_writer::run(settings, keys, shutdown, metrics.clone(), Readiness::new("bench")));
    let (consumed, landed) = (|| metrics.consumer.consumed.get(), || metrics.inserted.get());
    let rate = rate_until("the writer", count, Duration::from_secs(600), consumed, landed).await?;
    let cpu_us = (process_cpu_seconds() - cpu_before) * 1e6 / count.max(1) as f64;
    trigger.trigger();
    task.await??;
    anyhow::ensure!(metrics.erased_fields.get() == 0, "no key may be missing");
    database.server_client().query(&format!("DROP DATABASE IF EXISTS {}", database.database)).execute().await?;
    stack::object_store(&database.database)?.delete_prefix("").await?;
    Ok(WriterRun { rate, cpu_us })
}

/// Erasure of a person among `size` tracks, against a preview of the same erasure (what it reads).
async fn erasure(size: u64) -> anyhow::Result<()> {
    // The generated warehouse is made once (per day: it ends at today's midnight) and copied for
    // each round by hard links, since an erasure changes it.
    let pristine = stack::clickhouse(&format!("sightline_bench_erasure_{size}"));
    let end_ms = now_ms() - now_ms().rem_euclid(DAY_MS);
    let load = WarehouseLoad { tracks: size, end_ms, days: 30, best_shots: 100_000, duplicate_every: 50 };
    let started = Instant::now();
    let dataset = load.ensure(&pristine).await?;
    println!(
        "erasure at {size}: {} tracks over 30 days ready in {:.0} s",
        dataset.tracks,
        started.elapsed().as_secs_f64()
    );

    // A key per track in PostgreSQL (synthetic ids for all but the persons erased below: the
    // deletion's cost is the index's, the same for any id).
    let db = TestDatabase::create(&format!("bench_erasure_{size}")).await?;
    let first_day = key_day(end_ms - 30 * DAY_MS);
    for day in first_day..=key_day(end_ms) {
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF track_keys FOR VALUES FROM ({day}) TO ({})",
            partition_name(day),
            day + 1
        ))
        .execute(&db.pool)
        .await?;
    }
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO track_keys (day, key_id, stream_id, track_id, class, wrapped_dek, kek_id) \
         SELECT $1 + (n % 30), gen_random_uuid(), 'cam-' || (10 + n % 24), 'synthetic-' || n, 'image', '\\x00', 'bench' \
         FROM generate_series(1, $2::bigint) AS n",
    )
    .bind(first_day as i32)
    .bind(size as i64)
    .execute(&db.pool)
    .await?;
    println!("erasure at {size}: {size} keys in PostgreSQL in {:.0} s", started.elapsed().as_secs_f64());

    let work = stack::clickhouse(&format!("sightline_bench_erasure_{size}_work"));
    let eraser = Eraser {
        pool: db.pool.clone(),
        clickhouse: work.clone(),
        key_cache: Duration::from_secs(60),
        objects: stack::object_store(&work.database)?,
    };
    let admin = Principal::service("bench");
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let (mut seconds, mut ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        copy_warehouse(&pristine, &work).await?;
        // A different often-seen person each round (the generator's persons are skewed: low numbers
        // are seen most).
        let person = person_id(round as u64);
        let tracks: Vec<String> = work
            .read_client()
            .query(sightline_schemas::queries::ERASURE_PERSON_TRACKS)
            .bind(&person)
            .bind(&person)
            .fetch_all()
            .await?;
        for track in &tracks {
            let (stream, id) = track.split_once('/').context("track")?;
            sqlx::query(
                "INSERT INTO track_keys (day, key_id, stream_id, track_id, class, wrapped_dek, kek_id) \
                 VALUES ($1, gen_random_uuid(), $2, $3, 'image', '\\x00', 'bench')",
            )
            .bind(first_day as i32 + 15)
            .bind(stream)
            .bind(id)
            .execute(&db.pool)
            .await?;
        }
        let request =
            ErasureRequest { person_id: Some(person.parse()?), tracks: Vec::new(), reason: Some("bench".into()) };
        // The peer: the same erasure's preview (finding, listing and counting what it changes).
        let preview_started = Instant::now();
        eraser.preview(&request).await?;
        let preview = preview_started.elapsed().as_secs_f64();
        let started = Instant::now();
        let receipt = eraser.erase(&request, &admin).await?;
        let answered = started.elapsed().as_secs_f64();
        loop {
            let pending: u64 = work
                .read_client()
                .query("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0")
                .fetch_one()
                .await?;
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "erasure at {size}, round {}: person with {} tracks, {} reports, {} keys: receipt in {answered:.1} s, \
             warehouse done in {took:.1} s (preview {preview:.1} s, ratio {:.1})",
            round + 1,
            receipt.counts.tracks,
            receipt.counts.events,
            receipt.counts.keys,
            took / preview
        );
        seconds.push(took);
        ratios.push(took / preview);
    }
    let label = if size.is_multiple_of(1_000_000) { format!("{}m", size / 1_000_000) } else { size.to_string() };
    println!("erasure_{label}_s={:.1}", median(&seconds));
    println!("erasure_{label}_vs_preview={:.1}", median(&ratios));
    work.server_client().query(&format!("DROP DATABASE IF EXISTS {}", work.database)).execute().await?;
    db.remove().await
}

/// Makes `work` a copy of `pristine`'s warehouse: migrated, then every partition of every table
/// attached from it (hard links: seconds at any size).
async fn copy_warehouse(
    pristine: &sightline_common::warehouse::ClickHouseSettings,
    work: &sightline_common::warehouse::ClickHouseSettings,
) -> anyhow::Result<()> {
    work.server_client().query(&format!("DROP DATABASE IF EXISTS {}", work.database)).execute().await?;
    sightline_common::warehouse::migrate(work).await?;
    let partitions: Vec<(String, String)> = pristine
        .read_client()
        .query(
            "SELECT table, partition_id FROM system.parts WHERE database = currentDatabase() AND active \
             AND table NOT LIKE 'bench%' AND table != 'schema_migrations' GROUP BY table, partition_id",
        )
        .fetch_all()
        .await?;
    let client = work.read_client();
    for (table, partition) in partitions {
        client
            .query(&format!("ALTER TABLE {table} ATTACH PARTITION ID '{partition}' FROM {}.{table}", pristine.database))
            .execute()
            .await?;
    }
    Ok(())
}
