//! `sightline-enrich`: consumes `sightline.detections.v1` in a consumer group, adds face descriptors
//! and watchlist matches, produces `sightline.events.v1`. Serves the watchlists REST API
//! (`http_addr`) and `/metrics`, `/healthz`, `/readyz` (`metrics_addr`).
//!
//! Settings: `--config FILE` (TOML, see `enrich/enrich.toml`) overlaid by `SIGHTLINE_ENRICH__*`.

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use sightline_common::consumer::{ConsumerSpec, GroupConsumer};
use sightline_common::http::{Ops, start_ops};
use sightline_common::kafka::KafkaSettings;
use sightline_common::keys::{KeyClass, Sealer};
use sightline_common::objects::{ObjectStore, ObjectStoreSettings, StoreNeed};
use sightline_common::privacy::PrivacySettings;
use sightline_enrich::api::{ApiState, router};
use sightline_enrich::describe::FaceGate;
use sightline_enrich::metrics::EnrichMetrics;
use sightline_enrich::pipeline::Pipeline;
use sightline_enrich::watchlists::{self, IndexSpec};
use sightline_vision::descriptor::{DESCRIPTOR_DIM, DescriptorSettings, FaceDescriptor, MODEL_NAME, MODEL_VERSION};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_vision::photo::PhotoDescriber;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "sightline-enrich", about = "Detections to enriched events: descriptors and watchlist matches")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_ENRICH_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct EnrichSettings {
    kafka: KafkaSettings,
    /// Consumer group; instances of one group share the partitions.
    group_id: String,
    input_topic: String,
    output_topic: String,
    dlq_topic: String,
    /// PostgreSQL URL (watchlists).
    postgres_url: String,
    /// Directory prepared by `infra/models`.
    models_dir: PathBuf,
    /// ONNX Runtime threads of the descriptor model; also threads per watchlist scan.
    threads: usize,
    /// Messages per batch at most (faces of a batch share one model run).
    batch_max: usize,
    /// How long a batch waits for more messages, ms.
    batch_linger_ms: u64,
    /// Model failures tolerated per batch before its faces are dead-lettered.
    model_retries: u32,
    /// Minimum distance between the eyes for a descriptor, pixels.
    min_eye_distance_px: f32,
    /// Minimum sharpness of the aligned face for a descriptor.
    min_sharpness: f32,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    metrics_addr: std::net::SocketAddr,
    /// Address of the watchlists REST API.
    http_addr: String,
    /// A member silent this long leaves the group and its partitions move on, ms (6 s: see the
    /// writer's `session_timeout_ms`).
    session_timeout_ms: u32,
    /// The group is stalled when it has lag and no committed offset moved for this long, ms: enrich
    /// is then not ready, and rejoins the group if it owns no partition.
    stall_after_ms: u64,
    /// Bounds on the fields of a detection; a detection beyond them is dead-lettered.
    limits: sightline_schemas::validate::Limits,
    /// Face tracks remembered (descriptor of the best shot, best match; about 2 KB each), so a
    /// track's later reports with the same best shot are not described again.
    track_memory_max: usize,
    /// Largest photo accepted for enrolment, pixels (checked from its header before decoding).
    max_image_pixels: u64,
    /// `production` refuses the local stack's credentials at start.
    deployment: sightline_common::config::Deployment,
    /// Sealing of descriptors and matches, the key-encryption key (`[privacy]`).
    privacy: PrivacySettings,
    /// Where enrolment pictures are stored (`[objects]`); while it is down, enrolments answer 503
    /// and `/readyz` names the limitation.
    objects: ObjectStoreSettings,
}

impl Default for EnrichSettings {
    fn default() -> Self {
        let gate = FaceGate::default();
        Self {
            kafka: KafkaSettings::default(),
            group_id: "sightline-enrich".into(),
            input_topic: sightline_schemas::topics::DETECTIONS_V1.into(),
            output_topic: sightline_schemas::topics::EVENTS_V1.into(),
            dlq_topic: sightline_schemas::topics::DLQ_V1.into(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            models_dir: PathBuf::from("models"),
            threads: 2,
            batch_max: 32,
            batch_linger_ms: 50,
            model_retries: 3,
            min_eye_distance_px: gate.min_eye_distance_px,
            min_sharpness: gate.min_sharpness,
            metrics_addr: ([127, 0, 0, 1], 9466).into(),
            http_addr: "127.0.0.1:8082".into(),
            session_timeout_ms: 6_000,
            stall_after_ms: 30_000,
            limits: Default::default(),
            track_memory_max: 10_000,
            max_image_pixels: 40_000_000,
            deployment: Default::default(),
            privacy: PrivacySettings::default(),
            objects: ObjectStoreSettings::default(),
        }
    }
}

/// `fetch.wait.max.ms` of enrich's consumer: a detection waits at most this long in the broker, which
/// matters for alert latency (tansu holds every fetch for the full wait).
const FETCH_WAIT_MAX_MS: u32 = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: EnrichSettings = sightline_common::config::load("enrich", cli.config.as_deref())?;
    sightline_common::config::refuse_development_credentials(
        settings.deployment,
        "enrich",
        Some(&settings.postgres_url),
        None,
    )
    .map_err(anyhow::Error::msg)?;
    let files = ModelFiles { dir: settings.models_dir.clone() };
    let environment = detect::runtime(&files.runtime_library())
        .with_context(|| format!("no models in {} (run `make models`)", files.dir.display()))?;
    let describer = Arc::new(Mutex::new(FaceDescriptor::new(
        &environment,
        &files.descriptor_model(),
        DescriptorSettings { threads: settings.threads, max_batch: settings.batch_max },
    )?));
    let detector = FaceDetector::new(
        &environment,
        &files.face_model(),
        FaceDetectorSettings { threads: settings.threads, ..Default::default() },
    )?;
    let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
    let keys = settings.privacy.key_store(settings.deployment, pool.clone())?;
    let (Ops { shutdown, readiness, .. }, metrics) =
        start_ops(settings.metrics_addr, "loading watchlists", EnrichMetrics::register).await?;
    tokio::spawn(sightline_common::relational::watch_pool(pool.clone(), readiness.clone(), shutdown.clone()));

    let spec = IndexSpec {
        model_name: MODEL_NAME.into(),
        model_version: MODEL_VERSION.into(),
        dim: DESCRIPTOR_DIM,
        threads: settings.threads,
    };
    let changes = watchlists::listen(&pool).await.context("listening for watchlist changes")?;
    let index = watchlists::load_all(&pool, &spec).await.context("loading watchlists")?;
    tracing::info!(lists = index.list_count(), descriptors = index.descriptor_count(), "watchlists loaded");
    let index = Arc::new(RwLock::new(index));
    let report = watchlists::FollowerReport { readiness: readiness.clone(), metrics: metrics.clone() };
    let follower = tokio::spawn(watchlists::keep_current(
        changes,
        pool.clone(),
        index.clone(),
        spec.clone(),
        report,
        shutdown.clone(),
    ));

    let api_state = ApiState {
        pool: pool.clone(),
        photos: Arc::new(PhotoDescriber::new(
            detector,
            describer.clone(),
            settings.min_eye_distance_px,
            settings.max_image_pixels,
        )),
        spec,
        objects: ObjectStore::watched(
            &settings.objects,
            settings.deployment,
            StoreNeed::Feature,
            &readiness,
            &shutdown,
        )
        .context("the object store")?,
    };
    let (api_addr, api) =
        sightline_common::http::serve_router(settings.http_addr.as_str(), router(api_state), shutdown.clone())
            .await
            .with_context(|| format!("binding {}", settings.http_addr))?;
    tracing::info!(addr = %api_addr, "watchlists API listening");

    let spec = ConsumerSpec {
        kafka: settings.kafka.clone(),
        topic: settings.input_topic.clone(),
        group_id: settings.group_id.clone(),
        dlq_topic: settings.dlq_topic.clone(),
        service: "sightline-enrich".into(),
        session_timeout_ms: settings.session_timeout_ms,
        stall_after: Duration::from_millis(settings.stall_after_ms),
        fetch_wait_max_ms: FETCH_WAIT_MAX_MS,
        prefetch_max_kbytes: None,
    };
    let consumer = GroupConsumer::start(&spec, readiness.clone(), metrics.consumer.clone(), &shutdown)?;
    let pipeline = Pipeline {
        output_topic: settings.output_topic.clone(),
        batch_max: settings.batch_max.max(1),
        batch_linger: Duration::from_millis(settings.batch_linger_ms),
        model_retries: settings.model_retries,
        gate: FaceGate { min_eye_distance_px: settings.min_eye_distance_px, min_sharpness: settings.min_sharpness },
        describer,
        index,
        producer: settings.kafka.idempotent_producer()?,
        metrics,
        limits: settings.limits,
        tracks: std::sync::Mutex::new(sightline_enrich::tracks::TrackMemory::new(settings.track_memory_max)),
        ring: settings.privacy.key_ring(keys.clone()),
        sealer: settings.privacy.seal.then(|| Sealer::new(keys, KeyClass::Template)),
        readiness: readiness.clone(),
    };
    readiness.set_ready();
    tracing::info!(input = %settings.input_topic, output = %settings.output_topic, group = %settings.group_id, "enrich running");
    pipeline.run(&consumer, shutdown).await;
    readiness.set_not_ready("stopped");
    consumer.stop();
    if let Err(error) = follower.await {
        tracing::warn!(%error, "watchlist task failed");
    }
    api.await??;
    tracing::info!("enrich stopped");
    Ok(())
}
