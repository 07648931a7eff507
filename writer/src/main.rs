//! `sightline-writer`: lands enriched events from Kafka in ClickHouse.
//!
//! - `sightline-writer run` (the default): consume and land until SIGTERM/SIGINT, then flush and commit;
//! - `sightline-writer rebuild`: empty the warehouse tables, rewind the group to the start of the
//!   topic, then run (the warehouse is rebuilt from the log);
//! - `sightline-writer migrate`: apply the ClickHouse migrations and exit.
//!
//! Settings: `--config FILE` (TOML, see `writer/writer.toml`) overlaid by `SIGHTLINE_WRITER__*`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use sightline_common::http::{Ops, start_ops};
use sightline_writer::metrics::WriterMetrics;
use sightline_writer::settings::WriterSettings;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sightline-writer",
    about = "Lands enriched events from Kafka in ClickHouse, exactly once for readers"
)]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_WRITER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume and land events until stopped (default).
    Run,
    /// Empty the warehouse tables, rewind the consumer group to the start, then run.
    Rebuild {
        /// Stop after the reset instead of running.
        #[arg(long)]
        no_run: bool,
    },
    /// Apply pending ClickHouse migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: WriterSettings = sightline_common::config::load("writer", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "writer",
        Some(&settings.postgres_url),
        Some(&settings.clickhouse.password),
    )
    .map_err(anyhow::Error::msg)?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Migrate => {
            let applied = sightline_common::warehouse::migrate(&settings.clickhouse).await?;
            println!("applied {applied:?}");
            Ok(())
        }
        Command::Rebuild { no_run } => {
            sightline_writer::rebuild::reset(&settings).await.context("rebuild")?;
            if no_run {
                return Ok(());
            }
            serve(settings).await
        }
        Command::Run => serve(settings).await,
    }
}

async fn serve(settings: WriterSettings) -> anyhow::Result<()> {
    let addr = settings.http_addr.parse().with_context(|| format!("http_addr {:?}", settings.http_addr))?;
    let (Ops { shutdown, readiness, .. }, metrics) = start_ops(addr, "starting", WriterMetrics::register).await?;
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));
    let keys = settings.privacy.key_ring(settings.privacy.key_store(settings.deployment, pool)?);
    let summary = sightline_writer::run(settings, keys, shutdown, metrics, readiness).await?;
    tracing::info!(consumed = summary.consumed, inserted = summary.inserted, "writer stopped");
    Ok(())
}
