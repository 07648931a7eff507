//! `sightline-loadgen`: produces realistic enriched events to a topic (default `sightline.events.v1`).
//!
//! `sightline-loadgen --count 10000 [--rate 500] [--first 0] [--seed 1] [--streams 8] [--sites 3]`

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let kafka = KafkaSettings { brokers: cli.brokers, ..Default::default() };
    let profile = LoadProfile { seed: cli.seed, streams: cli.streams, sites: cli.sites, ..Default::default() };
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
