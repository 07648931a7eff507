//! `sightline-loadgen`: produces realistic enriched events to a topic (default `sightline.events.v1`).
//!
//! `sightline-loadgen --count 10000 [--rate 500] [--first 0] [--seed 1] [--streams 8] [--sites 3]
//! [--start-ms MS] [--step-ms 250]`

use clap::Parser;
use sightline_common::kafka::KafkaSettings;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce};
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
    let ids = produce(&kafka, &cli.topic, &generator, cli.first, cli.count, cli.rate).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "produced {} events to {} in {seconds:.2} s ({:.0} events/s)",
        ids.len(),
        cli.topic,
        ids.len() as f64 / seconds
    );
    Ok(())
}
