//! `sightline-query`: the query REST API (`http_addr`), plus `/metrics`,
//! `/healthz` and `/readyz` (`metrics_addr`; ready while the warehouse answers).
//!
//! Settings: `--config FILE` (TOML, see `query/query.toml`) overlaid by `SIGHTLINE_QUERY__*`.

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use sightline_common::accounts::AccountSettings;
use sightline_common::http::{Ops, Readiness, start_ops};
use sightline_common::objects::{ObjectStore, ObjectStoreSettings, StoreNeed};
use sightline_common::privacy::PrivacySettings;
use sightline_common::shutdown::Shutdown;
use sightline_common::warehouse::ClickHouseSettings;
use sightline_query::api::{ApiState, PrivacyView, QueryMetrics, router};
use sightline_query::erasure::Eraser;
use sightline_query::retention::{Retention, RetentionHealth};
use sightline_query::store::Warehouse;
use sightline_vision::descriptor::{DescriptorSettings, FaceDescriptor};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_vision::photo::PhotoDescriber;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "sightline-query", about = "REST API over the event warehouse")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_QUERY_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct QuerySettings {
    /// The warehouse.
    clickhouse: ClickHouseSettings,
    /// PostgreSQL URL (API tokens).
    postgres_url: String,
    /// Address of the REST API.
    http_addr: String,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    metrics_addr: std::net::SocketAddr,
    /// `production` refuses the local stack's credentials at start.
    deployment: sightline_common::config::Deployment,
    /// The face models (`make models` prints the directory) for searches by photo; empty or without
    /// the models: searches by photo answer 503 (and `/readyz` says why), searches by an event's face
    /// and everything else still work.
    models_dir: Option<PathBuf>,
    /// Threads of each face model.
    model_threads: usize,
    /// Smallest face a search photo may have: distance between the eyes, pixels.
    min_eye_distance_px: f32,
    /// Largest search photo, pixels (checked before decoding).
    max_image_pixels: u64,
    /// Sessions and login throttling of the web app's users (this service serves the login).
    accounts: AccountSettings,
    /// How long services keep track keys (an erasure's warehouse deletions run again after it), the
    /// retention periods (`[privacy]`).
    privacy: PrivacySettings,
    /// ClickHouse user allowed to delete and update rows, for erasures (empty: `clickhouse.user`,
    /// which must then be allowed; in production the API's user reads only).
    erasure_clickhouse_user: String,
    /// Its password.
    erasure_clickhouse_password: String,
    /// Where best shots are stored (`[objects]`); images answer 503 while it is down, and `/readyz`
    /// names that limitation.
    objects: ObjectStoreSettings,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            clickhouse: ClickHouseSettings::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            http_addr: "127.0.0.1:8083".into(),
            metrics_addr: ([127, 0, 0, 1], 9467).into(),
            deployment: Default::default(),
            models_dir: None,
            accounts: AccountSettings::default(),
            model_threads: 1,
            min_eye_distance_px: 8.0,
            max_image_pixels: 40_000_000,
            privacy: PrivacySettings::default(),
            erasure_clickhouse_user: String::new(),
            erasure_clickhouse_password: String::new(),
            objects: ObjectStoreSettings::default(),
        }
    }
}

/// Keeps readiness in step with the warehouse: ready while it answers.
async fn watch_warehouse(warehouse: Warehouse, readiness: Readiness, mut shutdown: Shutdown) {
    loop {
        match warehouse.ping().await {
            Ok(()) => readiness.set_ready(),
            Err(error) => readiness.set_not_ready(format!("warehouse: {error}")),
        }
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Keeps the hourly counts of the last month computed (see `sightline_query::hour_counts`): at
/// start, then every [`WARM_EVERY`], apart from the readiness checks so that a slow warehouse
/// does not delay them.
async fn warm_hour_counts(warehouse: Warehouse, mut shutdown: Shutdown) {
    loop {
        if let Err(error) = warehouse.warm_hour_counts(sightline_common::clock::now_ms()).await {
            tracing::warn!(%error, "computing the hourly counts of the last month");
        }
        tokio::select! {
            _ = shutdown.requested() => return,
            _ = tokio::time::sleep(WARM_EVERY) => {}
        }
    }
}

/// Time between two warm-ups of the hourly counts.
const WARM_EVERY: Duration = Duration::from_secs(30);

/// The face detector and descriptor for search photos, from the models in `dir`.
fn photo_describer(dir: &std::path::Path, settings: &QuerySettings) -> anyhow::Result<Arc<PhotoDescriber>> {
    let files = ModelFiles { dir: dir.to_owned() };
    let environment = detect::runtime(&files.runtime_library())
        .with_context(|| format!("no models in {} (run `make models`)", dir.display()))?;
    let threads = settings.model_threads;
    let describer =
        FaceDescriptor::new(&environment, &files.descriptor_model(), DescriptorSettings { threads, max_batch: 1 })?;
    let detector =
        FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings { threads, ..Default::default() })?;
    Ok(Arc::new(PhotoDescriber::new(
        detector,
        Arc::new(Mutex::new(describer)),
        settings.min_eye_distance_px,
        settings.max_image_pixels,
    )))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: QuerySettings = sightline_common::config::load("query", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "query",
        Some(&settings.postgres_url),
        Some(&settings.clickhouse.password),
    )
    .map_err(anyhow::Error::msg)?;
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    // What takes time to load is loaded before /readyz can say ready. Without the face models the
    // service runs all the same: searches by photo answer 503 with the reason, which /readyz shows.
    let photos = match settings.models_dir.as_deref() {
        None => Err("no face models configured (models_dir; `make models` prints the directory)".to_owned()),
        Some(dir) => photo_describer(dir, &settings).map_err(|error| format!("{error:#}")),
    };
    if let Err(reason) = &photos {
        tracing::warn!(%reason, "searches by photo are unavailable");
    }
    let fonts = sightline_exporter::PdfFonts::load_system().context("loading the fonts of PDF reports")?;
    let (Ops { shutdown, readiness, .. }, metrics) =
        start_ops(settings.metrics_addr, "reaching the warehouse", QueryMetrics::register).await?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));
    if let Err(reason) = &photos {
        readiness.unavailable("search by photo", reason.clone());
    }

    let objects =
        ObjectStore::watched(&settings.objects, settings.deployment, StoreNeed::Feature, &readiness, &shutdown)
            .context("the object store")?;
    let warehouse = Warehouse::new(&settings.clickhouse, objects.clone());
    let keys = Arc::new(settings.privacy.key_ring(settings.privacy.key_store(settings.deployment, pool.clone())?));
    let accounts = settings.accounts.clone();
    let mut erasure_clickhouse = settings.clickhouse.clone();
    if !settings.erasure_clickhouse_user.is_empty() {
        erasure_clickhouse.user = settings.erasure_clickhouse_user.clone();
        erasure_clickhouse.password = settings.erasure_clickhouse_password.clone();
    }
    let eraser = Eraser {
        pool: pool.clone(),
        clickhouse: erasure_clickhouse,
        objects,
        key_cache: Duration::from_secs(settings.privacy.key_cache_secs),
    };
    let privacy = PrivacyView {
        seal: settings.privacy.seal,
        key_source: if settings.privacy.kek_file.is_empty() { "development" } else { "deployment" }.into(),
        key_cache_secs: settings.privacy.key_cache_secs,
        retention: settings.privacy.retention.clone(),
    };
    let retention = Retention {
        eraser: eraser.clone(),
        settings: settings.privacy.retention.clone(),
        every: Duration::from_secs(settings.privacy.retention_every_secs.max(60)),
        start_delay: Duration::from_secs(settings.privacy.retention_start_delay_secs),
        health: RetentionHealth { readiness: readiness.clone(), metrics: metrics.retention.clone() },
    };
    tokio::spawn(retention.clone().schedule(shutdown.clone()));
    let state = ApiState {
        pool,
        warehouse: warehouse.clone(),
        keys,
        metrics,
        photos,
        fonts,
        accounts,
        eraser,
        privacy,
        retention,
    };
    let (addr, server) =
        sightline_common::http::serve_router(settings.http_addr.as_str(), router(state), shutdown.clone())
            .await
            .with_context(|| format!("binding {}", settings.http_addr))?;
    // Ready once the API is bound and the warehouse answers.
    tokio::spawn(warm_hour_counts(warehouse.clone(), shutdown.clone()));
    tokio::spawn(watch_warehouse(warehouse, readiness, shutdown));
    tracing::info!(%addr, "query API listening");
    server.await.context("the API server task")?.context("serving the API")?;
    tracing::info!("stopped");
    Ok(())
}
