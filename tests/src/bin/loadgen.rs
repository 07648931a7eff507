//! `sightline-loadgen`: produces realistic enriched events to a topic (default `sightline.events.v1`).
//!
//! `sightline-loadgen --count 10000 [--rate 500] [--first 0] [--seed 1] [--streams 8] [--sites 3]
//! [--start-ms MS] [--step-ms 250] [--seal-with-postgres URL [--kek-file FILE]]`
//!
//! With `--seal-with-postgres`, the events travel as ingest and enrich send real ones: best shots,
//! descriptors and matches sealed with their tracks' keys, kept in that PostgreSQL (the deployment's
//! key-encryption key from `--kek-file`, else the development key), so erasure and retention reach
//! the generated history too.

use anyhow::Context as _;
use clap::Parser;
use sightline_common::kafka::KafkaSettings;
use sightline_common::privacy::PrivacySettings;
use sightline_testkit::loadgen::{EventGenerator, EventSealer, LoadProfile, produce, produce_events};
use std::time::Instant;

#[derive(Parser)]
#[command(name = "sightline-loadgen", about = "Produce realistic enriched events")]
struct Cli {
    /// Bootstrap servers.
    #[arg(long, env = "SIGHTLINE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic to produce to.
    #[arg(long, default_value = sightline_schemas::topics::EVENTS_V1)]
    topic: String,
    /// Number of events.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Index of the first event (events are deterministic per seed and index).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Events per second (unpaced when absent).
    #[arg(long)]
    rate: Option<f64>,
    /// Seed of the generated traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of streams.
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Number of sites.
    #[arg(long, default_value_t = 3)]
    sites: usize,
    /// Capture time of event 0, ms since the epoch (default: the profile's fixed start, so a seed
    /// gives the same events on every run); the demo dates its history relative to now.
    #[arg(long)]
    start_ms: Option<i64>,
    /// Capture-time step between consecutive events, ms.
    #[arg(long)]
    step_ms: Option<i64>,
    /// Seal the events' biometric fields with their tracks' keys, kept in this PostgreSQL.
    #[arg(long, env = "SIGHTLINE_LOADGEN_SEAL_WITH_POSTGRES")]
    seal_with_postgres: Option<String>,
    /// The key-encryption key (64 hex digits in a file) of the keys; default: the development key.
    #[arg(long, default_value = "")]
    kek_file: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let kafka = KafkaSettings { brokers: cli.brokers, ..Default::default() };
    let defaults = LoadProfile::default();
    let profile = LoadProfile {
        seed: cli.seed,
        streams: cli.streams,
        sites: cli.sites,
        start_ms: cli.start_ms.unwrap_or(defaults.start_ms),
        step_ms: cli.step_ms.unwrap_or(defaults.step_ms),
        ..defaults
    };
    let generator = EventGenerator::new(profile);
    let started = Instant::now();
    let ids = match &cli.seal_with_postgres {
        None => produce(&kafka, &cli.topic, &generator, cli.first, cli.count, cli.rate).await?,
        Some(url) => {
            let pool = sightline_common::relational::migrate(url).await.context("postgres")?;
            let privacy = PrivacySettings { kek_file: cli.kek_file.clone(), ..Default::default() };
            let sealer = EventSealer::new(privacy.key_store(Default::default(), pool)?);
            let mut events = Vec::with_capacity(usize::try_from(cli.count).unwrap_or(0));
            for index in cli.first..cli.first + cli.count {
                events.push(sealer.seal(generator.event(index)).await?);
            }
            produce_events(&kafka, &cli.topic, events, cli.rate).await?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "produced {} events to {} in {seconds:.2} s ({:.0} events/s)",
        ids.len(),
        cli.topic,
        ids.len() as f64 / seconds
    );
    Ok(())
}
