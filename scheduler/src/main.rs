//! `sightline-scheduler`: mails scheduled reports; serves the schedules REST API (`http_addr`) and
//! `/metrics`, `/healthz`, `/readyz` (`metrics_addr`).
//!
//! Settings: `--config FILE` (TOML, see `scheduler/scheduler.toml`) overlaid by
//! `SIGHTLINE_SCHEDULER__*`.

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use sightline_common::http::{Ops, start_ops};
use sightline_common::mail::{Mailer, SmtpSettings};
use sightline_common::objects::{ObjectStore, ObjectStoreSettings};
use sightline_common::privacy::PrivacySettings;
use sightline_common::warehouse::ClickHouseSettings;
use sightline_query::store::Warehouse;
use sightline_scheduler::api::ApiState;
use sightline_scheduler::runner::{Runner, SchedulerMetrics};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "sightline-scheduler", about = "Mails scheduled reports of the event warehouse")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct SchedulerSettings {
    /// The warehouse.
    clickhouse: ClickHouseSettings,
    /// PostgreSQL URL (schedules, deliveries, API tokens).
    postgres_url: String,
    /// The mail relay.
    smtp: SmtpSettings,
    /// How often to look for due schedules, ms.
    poll_ms: u64,
    /// First retry delay after a failed send, ms (doubles per failure, with jitter).
    retry_base_ms: u64,
    /// Longest retry delay, ms.
    retry_max_ms: u64,
    /// The shortest time between two runs of a schedule, s: the API refuses expressions that would
    /// run more often, and the run loop never starts a run sooner.
    min_interval_secs: u64,
    /// Address of the schedules REST API.
    http_addr: String,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    metrics_addr: std::net::SocketAddr,
    /// `production` refuses the local stack's credentials at start.
    deployment: sightline_common::config::Deployment,
    /// The key-encryption key that opens the track keys of sealed best shots in PDF reports
    /// (`[privacy]`, shared by every service; docs/privacy.md).
    privacy: PrivacySettings,
    /// Where the reports' best shots are stored (`[objects]`); a run that cannot read them is
    /// retried.
    objects: ObjectStoreSettings,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            clickhouse: ClickHouseSettings::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            smtp: SmtpSettings::default(),
            poll_ms: 1_000,
            retry_base_ms: 5_000,
            retry_max_ms: 300_000,
            min_interval_secs: 60,
            http_addr: "127.0.0.1:8084".into(),
            metrics_addr: ([127, 0, 0, 1], 9468).into(),
            deployment: Default::default(),
            privacy: PrivacySettings::default(),
            objects: ObjectStoreSettings::default(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: SchedulerSettings = sightline_common::config::load("scheduler", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "scheduler",
        Some(&settings.postgres_url),
        Some(&settings.clickhouse.password),
    )
    .map_err(anyhow::Error::msg)?;
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    let mailer = Mailer::new(&settings.smtp).context("mail settings")?;
    let (Ops { shutdown, readiness, .. }, metrics) =
        start_ops(settings.metrics_addr, "starting", SchedulerMetrics::register).await?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));

    let min_interval = Duration::from_secs(settings.min_interval_secs.max(1));
    let runner = Runner {
        pool: pool.clone(),
        warehouse: Warehouse::new(
            &settings.clickhouse,
            ObjectStore::new(&settings.objects, settings.deployment).context("the object store")?,
        ),
        keys: Arc::new(settings.privacy.key_ring(settings.privacy.key_store(settings.deployment, pool.clone())?)),
        mailer,
        poll: Duration::from_millis(settings.poll_ms.max(100)),
        retry_base: Duration::from_millis(settings.retry_base_ms.max(100)),
        retry_max: Duration::from_millis(settings.retry_max_ms.max(settings.retry_base_ms)),
        min_interval,
        metrics,
        fonts: sightline_exporter::PdfFonts::load_system().context("loading the fonts of PDF reports")?,
    };
    let loop_task = tokio::spawn(runner.run(shutdown.clone()));
    let (addr, server) = sightline_common::http::serve_router(
        settings.http_addr.as_str(),
        sightline_scheduler::api::router(ApiState { pool, min_interval }),
        shutdown,
    )
    .await
    .with_context(|| format!("binding {}", settings.http_addr))?;
    readiness.set_ready();
    tracing::info!(%addr, "schedules API listening");
    server.await.context("the API server task")?.context("serving the API")?;
    loop_task.await.context("the run loop")?;
    tracing::info!("stopped");
    Ok(())
}
