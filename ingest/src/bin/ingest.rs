//! `sightline-ingest`: the ingest service. Analyses its share of the enabled streams in PostgreSQL
//! (shared with the other instances on the database, [`sightline_ingest::ownership`]), produces
//! detection events to Kafka, and serves the streams REST API with `/healthz` and `/readyz`.
//!
//! Settings: `--config FILE` (TOML, see `ingest/ingest.toml`) overlaid by `SIGHTLINE_INGEST__*`.

use anyhow::Context;
use axum::routing::get;
use clap::Parser;
use serde::{Deserialize, Serialize};
use sightline_common::http::{Ops, start_ops};
use sightline_common::kafka::KafkaSettings;
use sightline_common::objects::{ObjectStore, ObjectStoreSettings, StoreNeed};
use sightline_common::privacy::PrivacySettings;
use sightline_ingest::api::{ApiState, SourcePolicy, StatusBoard, peer_client, router};
use sightline_ingest::clip::upload::ClipUploads;
use sightline_ingest::clip::{ClipSettings, Clips};
use sightline_ingest::metrics::IngestMetrics;
use sightline_ingest::ownership::{Ownership, OwnershipSettings};
use sightline_ingest::sealing::ImageSealer;
use sightline_ingest::snapshot::SnapshotBoard;
use sightline_ingest::supervisor::{self, SupervisorSettings};
use sightline_ingest::track::TrackerSettings;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "sightline-ingest", about = "Video streams to tracked detections on Kafka")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_INGEST_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct IngestSettings {
    kafka: KafkaSettings,
    /// PostgreSQL URL (streams, API tokens).
    postgres_url: String,
    /// Topic of detection events.
    topic: String,
    /// Directory prepared by `infra/models` (`make models` prints it).
    models_dir: PathBuf,
    /// Address of the REST API and health endpoints.
    http_addr: String,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    metrics_addr: std::net::SocketAddr,
    /// ONNX Runtime threads per detector.
    threads: usize,
    /// Width of analysed frames.
    analysis_width: u32,
    /// Detect bodies as well as faces.
    detect_bodies: bool,
    /// A track unseen this long ends.
    lost_timeout_ms: i64,
    /// Long tracks report every this often (0: only when they end).
    update_interval_ms: i64,
    /// Report confirmed tracks while they last: first as soon as the best shot is recognisable, again
    /// when it improves, and when they end (off: only when they end).
    live_reports: bool,
    /// Best-shot quality (0-1) at which a live track is first reported.
    recognisable_quality: f32,
    /// Relative best-shot quality gain that makes an improved report (0.15: 15 % better).
    improvement: f32,
    /// Shortest time between a track's first and improved reports, ms.
    improvement_interval_ms: i64,
    /// Which source URLs streams may have (`[sources]`: schemes, hosts, local files, devices).
    sources: SourcePolicy,
    /// This instance among those sharing the streams (`[ownership]`: its name, the URL the others
    /// reach its API at, the leases' length).
    ownership: OwnershipSettings,
    /// `production` refuses the local stack's credentials at start.
    deployment: sightline_common::config::Deployment,
    /// Sealing of best shots and the deployment's key-encryption key (`[privacy]`).
    privacy: PrivacySettings,
    /// Clips of the tracks (`[clips]`: on or off, pre- and post-roll, length, memory).
    clips: ClipSettings,
    /// The object store clips go to (`[objects]`).
    objects: ObjectStoreSettings,
}

impl Default for IngestSettings {
    fn default() -> Self {
        let tracker = TrackerSettings::default();
        Self {
            kafka: KafkaSettings::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            topic: sightline_schemas::topics::DETECTIONS_V1.into(),
            models_dir: PathBuf::from("models"),
            http_addr: "127.0.0.1:8081".into(),
            metrics_addr: ([127, 0, 0, 1], 9465).into(),
            threads: 2,
            analysis_width: 640,
            detect_bodies: true,
            lost_timeout_ms: 1_500,
            update_interval_ms: 0,
            live_reports: tracker.live_reports,
            recognisable_quality: tracker.recognisable_quality,
            improvement: tracker.improvement,
            improvement_interval_ms: tracker.improvement_interval_ms,
            sources: SourcePolicy::default(),
            ownership: OwnershipSettings::default(),
            deployment: Default::default(),
            privacy: PrivacySettings::default(),
            clips: ClipSettings::default(),
            objects: ObjectStoreSettings::default(),
        }
    }
}

/// How long a stopping instance waits for its last clip segments to be stored.
const CLIPS_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: IngestSettings = sightline_common::config::load("ingest", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "ingest",
        Some(&settings.postgres_url),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        sightline_ingest::detect::ModelFiles { dir: settings.models_dir.clone() }.face_model().exists(),
        "no models in {} (run `make models` and set models_dir)",
        settings.models_dir.display()
    );
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    let sealer = if settings.privacy.seal {
        let store = settings.privacy.key_store(settings.deployment, pool.clone())?;
        Some(Arc::new(ImageSealer::new(store, tokio::runtime::Handle::current())))
    } else {
        tracing::warn!("privacy.seal is off: best shots go to Kafka in clear");
        None
    };
    let (Ops { shutdown, readiness, .. }, metrics) =
        start_ops(settings.metrics_addr, "starting", IngestMetrics::register).await?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));
    let (clips, uploader) = if settings.clips.enabled {
        let store =
            ObjectStore::watched(&settings.objects, settings.deployment, StoreNeed::Feature, &readiness, &shutdown)?;
        let (uploads, uploader) = ClipUploads::start(store, settings.clips.max_queued_bytes, metrics.clone());
        (Some(Clips { settings: settings.clips.clone(), uploads }), Some(uploader))
    } else {
        (None, None)
    };
    let statuses = StatusBoard::default();
    let snapshots = SnapshotBoard::default();
    let live = metrics.live_views();
    let api_addr: std::net::SocketAddr = settings
        .http_addr
        .parse()
        .with_context(|| format!("http_addr {:?} is not an address and port", settings.http_addr))?;
    let ownership = Ownership::new(pool.clone(), &settings.ownership, api_addr);
    tracing::info!(instance = %ownership.instance, "sharing the streams as this instance");
    let app = router(ApiState {
        instance: ownership.instance.clone(),
        peers: peer_client(),
        pool: pool.clone(),
        statuses: statuses.clone(),
        snapshots: snapshots.clone(),
        live: live.clone(),
        sources: settings.sources.clone(),
    })
    .route("/healthz", get(|| async { "ok\n" }))
    .route("/readyz", get(|| async { "ready\n" }));
    let (api_addr, api) = sightline_common::http::serve_router(settings.http_addr.as_str(), app, shutdown.clone())
        .await
        .with_context(|| format!("binding {}", settings.http_addr))?;
    tracing::info!(addr = %api_addr, "streams API listening");
    let supervisor_settings = SupervisorSettings {
        instance: ownership.instance.clone(),
        kafka: settings.kafka,
        topic: settings.topic,
        models_dir: settings.models_dir,
        threads: settings.threads,
        analysis_width: settings.analysis_width,
        detect_bodies: settings.detect_bodies,
        tracker: TrackerSettings {
            lost_timeout_ms: settings.lost_timeout_ms,
            update_interval_ms: settings.update_interval_ms,
            live_reports: settings.live_reports,
            recognisable_quality: settings.recognisable_quality,
            improvement: settings.improvement,
            improvement_interval_ms: settings.improvement_interval_ms,
            ..Default::default()
        },
        sources: settings.sources,
        metrics,
        snapshots,
        live,
        readiness: readiness.clone(),
        sealer,
        clips,
    };
    readiness.set_ready();
    supervisor::run(supervisor_settings, pool, statuses, ownership, shutdown).await?;
    if let Some(uploader) = uploader {
        uploader.finish(CLIPS_DRAIN_TIMEOUT).await;
    }
    api.await??;
    tracing::info!("ingest stopped");
    Ok(())
}
