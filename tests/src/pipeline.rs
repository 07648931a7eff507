//! The whole pipeline on the test video, every service a process on the real stack, for the
//! end-to-end test of alerts and counts and for `make bench-alert`: the video live over RTSP →
//! `sightline-ingest` → `sightline-enrich` (some of the video's people on a watchlist) →
//! `sightline-notifier` (a rule on the list, webhooks to a [`WebhookReceiver`]) and, if asked,
//! `sightline-writer` → ClickHouse → `sightline-query`. Services run with their shipped settings.

use anyhow::Context;
use serde_json::json;
use sightline_common::auth::Role;
use sightline_common::kafka::TopicSpec;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::alerts::WebhookReceiver;
pub use crate::stack::call;
use crate::stack::{self, Isolation, ServiceProcess, TestDatabase, eventually, http_request};

/// Token of the operator the pipeline registers.
pub const OPERATOR: &str = "operator-secret";
/// Token of an analyst.
pub const ANALYST: &str = "analyst-secret";
/// The webhook signing secret of the pipeline's rule.
pub const WEBHOOK_SECRET: &str = "pipeline-webhook-secret";
/// The receiver's name for the rule's webhook (`/hooks/alert`).
pub const HOOK: &str = "alert";

/// A person of the video's ground truth: when they are in view, ms from the video's start.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Person {
    /// Their name (the enrolment photo's subject).
    pub person: String,
    /// First frame with their face.
    pub enter_ms: i64,
    /// First frame without it.
    pub leave_ms: i64,
}

/// The video's ground truth (`people.truth.json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Truth {
    /// Its length.
    pub duration_ms: i64,
    /// Who is in it, when.
    pub people: Vec<Person>,
}

/// The test video and its ground truth, made once by `sightline-testmedia` (as `make demo` does).
/// Safe to call from concurrent tests and processes: one makes it (the others in this process wait),
/// in a directory of its own, and moves the ground truth then the video into place, so a video seen
/// there always has its ground truth beside it.
pub fn test_video() -> anyhow::Result<(PathBuf, Truth)> {
    test_video_named("people", &[])
}

/// The test video `seconds` long (the cast coming back every 8 s), made once like [`test_video`]:
/// benchmarks run longer than the standard video.
pub fn long_test_video(seconds: u32) -> anyhow::Result<(PathBuf, Truth)> {
    test_video_named(&format!("people-{seconds}s"), &["--seconds".to_owned(), seconds.to_string()])
}

/// The test video `name` (`<name>.mp4` and `<name>.truth.json`), made by `sightline-testmedia` with
/// `args` if missing.
fn test_video_named(name: &str, args: &[String]) -> anyhow::Result<(PathBuf, Truth)> {
    static MAKING: Mutex<()> = Mutex::new(());
    let dir = stack::data_dir().join("test-media");
    let video = dir.join(format!("{name}.mp4"));
    let truth = dir.join(format!("{name}.truth.json"));
    let _making = MAKING.lock().map_err(|_| anyhow::anyhow!("a test panicked while making the test video"))?;
    if !video.exists() {
        let scratch = stack::data_dir().join(format!("test-media.making-{}", std::process::id()));
        let status = Command::new(stack::binary("sightline-testmedia")?)
            .arg("--models-dir")
            .arg(std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR")?)
            .arg("--out")
            .arg(&scratch)
            .args(args)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "sightline-testmedia failed");
        std::fs::create_dir_all(&dir)?;
        std::fs::rename(scratch.join("people.truth.json"), &truth)?;
        std::fs::rename(scratch.join("people.mp4"), &video)?;
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let truth = serde_json::from_slice(&std::fs::read(truth)?)?;
    Ok((video, truth))
}

/// What to start.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Names the test's topics, groups and databases.
    pub name: &'static str,
    /// People of the video on the watchlist, with their enrolment photo in the models' images.
    pub listed: Vec<(&'static str, &'static str)>,
    /// The rule's cooldown per person and stream, seconds.
    pub cooldown_secs: i32,
    /// Also mail every alert to this address.
    pub mail_to: Option<String>,
    /// Also start the writer and the query API.
    pub warehouse: bool,
}

/// The running pipeline; services are stopped when it is dropped.
pub struct VideoPipeline {
    /// Topics (`iso.topic`: enriched events), groups and warehouse database.
    pub iso: Isolation,
    /// Detections topic.
    pub detections: String,
    /// Alerts topic.
    pub alerts_topic: String,
    /// Tokens, streams, watchlists, rules, alerts.
    pub db: TestDatabase,
    /// The video's ground truth.
    pub truth: Truth,
    /// Where the rule's webhooks arrive.
    pub receiver: WebhookReceiver,
    /// The watchlist.
    pub list_id: String,
    /// The RTSP URL of the video.
    pub video_url: String,
    /// The video file itself.
    pub video: PathBuf,
    /// Port of the notifier's API.
    pub notifier_port: u16,
    /// Port of the query API, with `warehouse`.
    pub query_port: Option<u16>,
    /// Port of ingest's API, while it runs.
    pub ingest_port: Option<u16>,
    /// The query service's process (its `/readyz` and metrics), with `warehouse`.
    query: Option<usize>,
    plays: Arc<Mutex<Vec<i64>>>,
    rtsp: RtspVideo,
    ingest: Option<ServiceProcess>,
    services: Vec<ServiceProcess>,
}

/// Waits until `port` answers `GET path` with 200.
pub async fn answering(port: u16, path: &str, token: &str) -> anyhow::Result<()> {
    eventually(Duration::from_secs(90), path, || async {
        Ok(call(port, "GET", path, token, None).ok().filter(|(s, _)| *s == 200).map(|_| ()))
    })
    .await
}

/// Through the enrich API on `port`: a watchlist "Listed" (threshold 0.45) with `listed` enrolled,
/// each by their photo in the models' images (`models`); its id.
pub async fn enrol_listed(port: u16, models: &str, listed: &[(&str, &str)]) -> anyhow::Result<String> {
    answering(port, "/v1/watchlists", OPERATOR).await?;
    let list = json!({"name": "Listed", "threshold": 0.45, "top_k": 1});
    let (status, list) = call(port, "POST", "/v1/watchlists", OPERATOR, Some(list))?;
    anyhow::ensure!(status == 201, "creating the watchlist: {status} {list}");
    let list_id = list["id"].as_str().unwrap_or_default().to_owned();
    for (name, photo) in listed {
        let image = std::fs::read(PathBuf::from(models).join("images").join(photo))?;
        let path = format!("/v1/watchlists/{list_id}/persons?display_name={name}&external_id=ext-{name}");
        let (status, body) = http_request(port, "POST", &path, Some(OPERATOR), "image/jpeg", &image)?;
        anyhow::ensure!(status == 201, "enrolling {name}: {status} {body}");
    }
    Ok(list_id)
}

impl VideoPipeline {
    /// The query service's process, with `warehouse`.
    pub fn query_service(&self) -> Option<&ServiceProcess> {
        self.services.get(self.query?)
    }

    /// Starts the video server, enrich (with the listed people enrolled), the notifier (with a rule
    /// on the list) and, with `warehouse`, the writer and the query API. Ingest is started by
    /// [`Self::start_ingest`].
    pub async fn start(options: PipelineOptions) -> anyhow::Result<Self> {
        let (video, truth) = test_video()?;
        let models = std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR")?;
        let iso = Isolation::new(options.name, 3).await?;
        let (detections, alerts_topic) = (format!("{}.detections", iso.topic), format!("{}.alerts", iso.topic));
        let specs = [&detections, &alerts_topic].map(|name| TopicSpec {
            name: name.clone(),
            partitions: 3,
            replication: 1,
            retention_ms: -1,
        });
        sightline_common::kafka::ensure_topics(&stack::kafka(), &specs).await?;
        let db = TestDatabase::create(&format!("test_{}", options.name)).await?;
        sightline_common::auth::register(&db.pool, "operator", OPERATOR, Role::Operator).await?;
        sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
        let kafka = stack::kafka().brokers;
        let tag = iso.group.clone();

        let mut rtsp = RtspVideo::serve(&video)?;
        let plays = rtsp.plays();

        let mut services = Vec::new();
        let enrich_port = stack::free_port()?;
        let mut enrich_settings = vec![
            ("KAFKA__BROKERS", kafka.clone()),
            ("INPUT_TOPIC", detections.clone()),
            ("OUTPUT_TOPIC", iso.topic.clone()),
            ("DLQ_TOPIC", iso.dlq_topic.clone()),
            ("GROUP_ID", format!("{tag}-enrich")),
            ("POSTGRES_URL", db.url.clone()),
            ("MODELS_DIR", models.clone()),
            ("HTTP_ADDR", format!("127.0.0.1:{enrich_port}")),
        ];
        enrich_settings.extend(stack::object_settings(&iso.database));
        let log = format!("{tag}-enrich");
        services.push(ServiceProcess::start(
            "sightline-enrich",
            "ENRICH",
            "METRICS_ADDR",
            &[],
            &enrich_settings,
            &log,
        )?);
        let list_id = enrol_listed(enrich_port, &models, &options.listed).await?;

        let receiver = WebhookReceiver::new(WEBHOOK_SECRET);
        let receiver_port = stack::free_port()?;
        // The server runs as long as the test's runtime.
        let _server = receiver.serve(receiver_port).await?;
        let notifier_port = stack::free_port()?;
        let group = format!("{tag}-notifier");
        services.push(ServiceProcess::notifier(&iso, &alerts_topic, &db.url, &group, notifier_port, &group)?);
        answering(notifier_port, "/v1/alert-rules", OPERATOR).await?;
        let mut channels = json!({
            "webhook": {"url": format!("http://127.0.0.1:{receiver_port}/hooks/{HOOK}"), "secret": WEBHOOK_SECRET},
            "live": true,
            "kafka": true,
        });
        if let Some(to) = &options.mail_to {
            channels["email"] = json!({ "to": [to] });
        }
        let rule = json!({"name": "Listed at the door", "list_ids": [list_id], "cooldown_secs": options.cooldown_secs,
                          "channels": channels});
        let (status, created) = call(notifier_port, "POST", "/v1/alert-rules", OPERATOR, Some(rule))?;
        anyhow::ensure!(status == 201, "creating the rule: {status} {created}");

        let (mut query_port, mut query) = (None, None);
        if options.warehouse {
            let clickhouse = stack::clickhouse(&iso.database);
            // The track keys that open the events' sealed fields are in the services' database.
            services.push(ServiceProcess::writer(&iso, &clickhouse, &[], &[("POSTGRES_URL", &db.url)])?);
            let port = stack::free_port()?;
            let mut query_settings = stack::api_settings(port, &db.url, &clickhouse);
            // Searches by photo need the face models (a test's erasure finds a person by photo).
            if let Ok(models) = std::env::var("SIGHTLINE_MODELS_DIR") {
                query_settings.push(("MODELS_DIR", models));
            }
            let log = format!("{tag}-query");
            services.push(ServiceProcess::start(
                "sightline-query",
                "QUERY",
                "METRICS_ADDR",
                &[],
                &query_settings,
                &log,
            )?);
            query_port = Some(port);
            query = Some(services.len() - 1);
        }
        // The notifier applies a new rule within a second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(Self {
            iso,
            detections,
            alerts_topic,
            db,
            truth,
            receiver,
            list_id,
            video_url: rtsp.url.clone(),
            video: video.clone(),
            notifier_port,
            query_port,
            ingest_port: None,
            query,
            plays,
            rtsp,
            ingest: None,
            services,
        })
    }

    /// Starts ingest with `settings` (`SIGHTLINE_INGEST__<KEY>`) over the shipped ones and waits for
    /// its API.
    pub async fn start_ingest(&mut self, settings: &[(&str, String)]) -> anyhow::Result<u16> {
        let port = stack::free_port()?;
        let mut all = vec![
            ("KAFKA__BROKERS", stack::kafka().brokers),
            ("TOPIC", self.detections.clone()),
            ("POSTGRES_URL", self.db.url.clone()),
            ("MODELS_DIR", std::env::var("SIGHTLINE_MODELS_DIR")?),
            ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ];
        all.extend(stack::object_settings(&self.iso.database));
        all.extend(settings.iter().cloned());
        let log = format!("{}-ingest", self.iso.group);
        self.ingest = Some(ServiceProcess::start("sightline-ingest", "INGEST", "METRICS_ADDR", &[], &all, &log)?);
        answering(port, "/v1/streams", OPERATOR).await?;
        self.ingest_port = Some(port);
        Ok(port)
    }

    /// Stops ingest (SIGTERM: open tracks end and are flushed).
    pub fn stop_ingest(&mut self) {
        if let Some(ingest) = self.ingest.take() {
            ingest.terminate(Duration::from_secs(30));
        }
        self.ingest_port = None;
    }

    /// Registers the video as a camera named `name` at site `lobby`; its id.
    pub fn add_camera(&self, name: &str) -> anyhow::Result<String> {
        let port = self.ingest_port.context("ingest is not running")?;
        let stream = json!({"name": name, "source_url": self.video_url, "site": "lobby"});
        let (status, created) = call(port, "POST", "/v1/streams", OPERATOR, Some(stream))?;
        anyhow::ensure!(status == 201, "registering the camera: {status} {created}");
        Ok(created["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Registers the video file as a recording named `name` at site `lobby`, taken from `start_ms`
    /// (its capture times are on that timeline); its id. Ingest must allow local files.
    pub fn add_recording(&self, name: &str, start_ms: i64) -> anyhow::Result<String> {
        let port = self.ingest_port.context("ingest is not running")?;
        let stream = json!({"name": name, "source_url": self.video.display().to_string(), "site": "lobby",
                            "media_start_ms": start_ms});
        let (status, created) = call(port, "POST", "/v1/streams", OPERATOR, Some(stream))?;
        anyhow::ensure!(status == 201, "registering the recording: {status} {created}");
        Ok(created["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Retires the camera `id`.
    pub fn remove_camera(&self, id: &str) -> anyhow::Result<()> {
        let port = self.ingest_port.context("ingest is not running")?;
        let (status, body) = call(port, "DELETE", &format!("/v1/streams/{id}"), OPERATOR, None)?;
        anyhow::ensure!(status == 204, "retiring the camera: {status} {body}");
        Ok(())
    }

    /// When clients started playing the video so far, ms since the epoch.
    pub fn plays(&self) -> Vec<i64> {
        self.plays.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Stops everything and drops the database.
    pub async fn remove(mut self) -> anyhow::Result<()> {
        self.stop_ingest();
        drop(self.rtsp);
        drop(self.services);
        self.db.remove().await
    }
}

/// A video served live over RTSP by `sightline-rtsp-serve` (each client plays it from its start; it
/// prints `play <ms since the epoch>` on standard output when one does); stopped when dropped.
pub struct RtspVideo {
    /// Where it is served: `rtsp://127.0.0.1:<port>/people`.
    pub url: String,
    child: KilledOnDrop,
}

impl RtspVideo {
    /// Serves `video` on a free port.
    pub fn serve(video: &std::path::Path) -> anyhow::Result<Self> {
        let port = stack::free_port()?;
        let child = Command::new(stack::binary("sightline-rtsp-serve")?)
            .args(["--port", &port.to_string(), "--mount", "/people", "--log-plays", "--file"])
            .arg(video)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { url: format!("rtsp://127.0.0.1:{port}/people"), child: KilledOnDrop(child) })
    }
}

impl RtspVideo {
    /// When clients started playing the video, ms since the epoch, as the server says (filled as it
    /// goes; call once).
    pub fn plays(&mut self) -> Arc<Mutex<Vec<i64>>> {
        let plays: Arc<Mutex<Vec<i64>>> = Arc::default();
        if let Some(stdout) = self.child.0.stdout.take() {
            let plays = plays.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(ms) = line.strip_prefix("play ").and_then(|ms| ms.trim().parse().ok())
                        && let Ok(mut plays) = plays.lock()
                    {
                        plays.push(ms);
                    }
                }
            });
        }
        plays
    }
}

/// A child process killed when dropped.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An RGB image: width, height and its `width * height * 3` bytes (as `RgbFrame` holds them).
pub type RgbImage<'a> = (u32, u32, &'a [u8]);

/// Two photos side by side, as a JPEG: a photo of two people, the left one's first.
pub fn side_by_side(left: RgbImage<'_>, right: RgbImage<'_>) -> anyhow::Result<Vec<u8>> {
    let (width, height) = (left.0 + right.0, left.1.max(right.1));
    let mut data = vec![0u8; (width * height * 3) as usize];
    for ((image_width, image_height, pixels), x0) in [(left, 0), (right, left.0)] {
        for y in 0..image_height {
            let from = (y * image_width * 3) as usize;
            let to = ((y * width + x0) * 3) as usize;
            data[to..to + (image_width * 3) as usize].copy_from_slice(&pixels[from..from + (image_width * 3) as usize]);
        }
    }
    let mut jpeg = Vec::new();
    let side = |value: u32| u16::try_from(value).context("the photos are too large for one JPEG");
    jpeg_encoder::Encoder::new(&mut jpeg, 90).encode(
        &data,
        side(width)?,
        side(height)?,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(jpeg)
}
