//! `sightline-notifier`: real-time watchlist alerts from `sightline.events.v1` (see the library's
//! documentation). Serves the rules and alerts REST API and the live feed (`http_addr`), and
//! `/metrics`, `/healthz`, `/readyz` (`metrics_addr`).
//!
//! Settings: `--config FILE` (TOML, see `notifier/notifier.toml`) overlaid by `SIGHTLINE_NOTIFIER__*`.

use anyhow::Context;
use clap::Parser;
use sightline_common::consumer::{ConsumerSpec, GroupConsumer};
use sightline_common::http::{Ops, start_ops};
use sightline_common::mail::Mailer;
use sightline_common::objects::{ObjectStore, StoreNeed};
use sightline_notifier::api::{ApiState, router};
use sightline_notifier::channels::webhook::WebhookChannel;
use sightline_notifier::deliver::Deliverer;
use sightline_notifier::images::AlertImages;
use sightline_notifier::live::LiveFeed;
use sightline_notifier::metrics::NotifierMetrics;
use sightline_notifier::raise::Raiser;
use sightline_notifier::rules::{self, SharedRules};
use sightline_notifier::settings::NotifierSettings;
use sightline_notifier::targets::TargetPolicy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "sightline-notifier", about = "Real-time watchlist alerts: webhook, email, live feed, Kafka")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_NOTIFIER_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: NotifierSettings = sightline_common::config::load("notifier", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "notifier",
        Some(&settings.postgres_url),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    let settings = Arc::new(settings);
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    let (Ops { shutdown, readiness, .. }, metrics) =
        start_ops(settings.metrics_addr, "loading alert rules", NotifierMetrics::register).await?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));

    // The rules in force before the first event is read; `keep_current` follows their changes.
    let rules: SharedRules = Arc::new(std::sync::RwLock::new(rules::list(&pool).await.context("loading alert rules")?));
    let rules_task =
        tokio::spawn(rules::keep_current(pool.clone(), rules.clone(), readiness.clone(), shutdown.clone()));
    let policy = TargetPolicy::new(&settings.webhook.allow_hosts);
    let live = LiveFeed::default();
    let live_task = tokio::spawn(live.clone().follow(
        pool.clone(),
        settings.best_shot_base_url.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let keys = Arc::new(settings.privacy.key_ring(settings.privacy.key_store(settings.deployment, pool.clone())?));
    let objects =
        ObjectStore::watched(&settings.objects, settings.deployment, StoreNeed::Feature, &readiness, &shutdown)
            .context("the object store")?;
    let images = AlertImages { objects: objects.clone(), keys: keys.clone() };
    let api_state = ApiState { pool: pool.clone(), policy: policy.clone(), live, images: images.clone() };
    let (api_addr, api) =
        sightline_common::http::serve_router(settings.http_addr.as_str(), router(api_state), shutdown.clone())
            .await
            .with_context(|| format!("binding {}", settings.http_addr))?;
    tracing::info!(addr = %api_addr, "alerts API listening");

    let wake = Arc::new(tokio::sync::Notify::new());
    let deliverer = Deliverer {
        keys: keys.clone(),
        pool: pool.clone(),
        settings: settings.clone(),
        webhook: WebhookChannel::new(policy, Duration::from_millis(settings.webhook.timeout_ms))
            .context("creating the webhook client")?,
        mailer: Mailer::new(&settings.smtp).context("mail settings")?,
        producer: settings.kafka.idempotent_producer()?,
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        images: images.clone(),
    };
    let deliver_task = tokio::spawn(deliverer.run(wake.clone(), shutdown.clone()));

    let spec = ConsumerSpec {
        kafka: settings.kafka.clone(),
        topic: settings.input_topic.clone(),
        group_id: settings.group_id.clone(),
        dlq_topic: settings.dlq_topic.clone(),
        service: "sightline-notifier".into(),
        session_timeout_ms: settings.session_timeout_ms,
        stall_after: Duration::from_millis(settings.stall_after_ms),
        fetch_wait_max_ms: FETCH_WAIT_MAX_MS,
        prefetch_max_kbytes: None,
    };
    let consumer = GroupConsumer::start(&spec, readiness.clone(), metrics.consumer.clone(), &shutdown)?;
    let scenes = sightline_notifier::scene::Scenes::new(pool.clone(), objects).context("the scenes' HTTP client")?;
    let raiser = Raiser {
        keys,
        images,
        pool,
        rules,
        scenes,
        alerts_topic: settings.alerts_topic.clone(),
        wake,
        readiness: readiness.clone(),
        metrics,
        limits: settings.limits,
        batch_max: settings.batch_max.max(1),
        batch_linger: Duration::from_millis(settings.batch_linger_ms),
        max_event_age_ms: i64::try_from(settings.max_event_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
    };
    readiness.set_ready();
    tracing::info!(input = %settings.input_topic, group = %settings.group_id, "notifier running");
    raiser.run(&consumer, shutdown).await;
    readiness.set_not_ready("stopped");
    consumer.stop();
    for (name, task) in [("rules", rules_task), ("live feed", live_task), ("deliveries", deliver_task)] {
        if let Err(error) = task.await {
            tracing::warn!(%error, "{name} task failed");
        }
    }
    api.await??;
    tracing::info!("notifier stopped");
    Ok(())
}

/// `fetch.wait.max.ms` of the notifier's consumer: an event waits at most this long in the broker
/// (tansu holds every fetch for the full wait), which counts in every alert's latency.
const FETCH_WAIT_MAX_MS: u32 = 20;
