//! `sightline-admin`: one-off administration of a Sightline deployment.
//!
//! - `topics`: creates the configured topics (partitions, replication, retention) that are missing;
//! - `migrate clickhouse`: applies the warehouse DDL migrations;
//! - `migrate postgres`: applies the relational migrations.
//!
//! Settings come from `--config` (default `infra/config/admin.toml`) overlaid by `SIGHTLINE_ADMIN__*`
//! environment variables.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use sightline_common::kafka::{KafkaSettings, TopicSpec};
use sightline_common::warehouse::ClickHouseSettings;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "sightline-admin", about = "Administration of a Sightline deployment")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_ADMIN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the configured topics that are missing.
    Topics,
    /// Apply pending migrations.
    Migrate {
        #[command(subcommand)]
        target: MigrateTarget,
    },
}

#[derive(Subcommand)]
enum MigrateTarget {
    /// ClickHouse warehouse DDL.
    Clickhouse,
    /// PostgreSQL schema.
    Postgres,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct AdminSettings {
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    /// PostgreSQL connection URL.
    postgres_url: String,
    topics: Vec<TopicSpec>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            clickhouse: ClickHouseSettings::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            topics: Vec::new(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: AdminSettings = sightline_common::config::load("admin", cli.config.as_deref())?;
    match cli.command {
        Command::Topics => {
            anyhow::ensure!(!settings.topics.is_empty(), "no [[topics]] configured");
            sightline_common::kafka::ensure_topics(&settings.kafka, &settings.topics)
                .await
                .with_context(|| format!("creating topics on {}", settings.kafka.brokers))?;
            for topic in &settings.topics {
                println!("topic {} ({} partitions, retention.ms {})", topic.name, topic.partitions, topic.retention_ms);
            }
        }
        Command::Migrate { target: MigrateTarget::Clickhouse } => {
            let applied = sightline_common::warehouse::migrate(&settings.clickhouse)
                .await
                .with_context(|| format!("migrating clickhouse at {}", settings.clickhouse.url))?;
            println!("clickhouse {}: applied {applied:?}", settings.clickhouse.database);
        }
        Command::Migrate { target: MigrateTarget::Postgres } => {
            sightline_common::relational::migrate(&settings.postgres_url).await.context("migrating postgres")?;
            println!("postgres: migrations up to date");
        }
    }
    Ok(())
}
