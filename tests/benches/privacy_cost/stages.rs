//! Ingest and enrich with sealing on and off, end to end: each stage as its service (release
//! build, the shipped settings but `[privacy] seal`), on the test video, one mode after the other
//! in alternating order each round.
//!
//! - **Ingest**: a fresh ingest process per run analyses the test video as a recording (a file runs
//!   as fast as it is analysed); its rate is the frames analysed over the time from "running
//!   since" to the last analysed frame, both from the stream's own state. Sealed, ingest makes an
//!   image key per track in PostgreSQL and seals every best shot.
//! - **Enrich**: after the ingest runs, a fresh enrich process per run (a new consumer group) reads
//!   every detection that mode's ingest runs produced, describes the faces and matches them against
//!   a watchlist of two people; its rate is the detections over the time from the first consumed to
//!   the last produced (from its metrics). Sealed, it opens each best shot, makes a template key per
//!   track and seals descriptor and matches.

use anyhow::Context as _;
use serde_json::json;
use sightline_common::auth::Role;
use sightline_common::kafka::TopicSpec;
use sightline_testkit::pipeline::{OPERATOR, answering, enrol_listed, long_test_video};
use sightline_testkit::stack::{self, ServiceProcess, TestDatabase, call};
use std::time::{Duration, Instant};

/// The people of the test video on the watchlist enrich matches against, with their photos.
const LISTED: [(&str, &str); 2] = [("obama", "obama2.jpg"), ("biden", "biden.jpg")];
/// Length of the video each ingest run analyses: about 8 s of analysis at the default 5 fps.
const VIDEO_SECONDS: u32 = 64;
/// How often a run's progress is read: well under 1 % of a run of several seconds.
const POLL: Duration = Duration::from_millis(20);

/// With or without protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clear,
    Sealed,
}

impl Mode {
    fn seal(self) -> String {
        (self == Mode::Sealed).to_string()
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Clear => "clear",
            Mode::Sealed => "sealed",
        }
    }
}

/// Each round's sealed/clear ratio of ingest's frames/s and of enrich's detections/s.
pub struct StageRatios {
    /// Ingest, per round.
    pub ingest: Vec<f64>,
    /// Enrich, per round.
    pub enrich: Vec<f64>,
}

/// What both stages share: the database (streams, watchlists, track keys), the models and the
/// detections topic of each mode.
struct Bench {
    db: TestDatabase,
    models: String,
    video: String,
    tag: String,
}

impl Bench {
    fn detections(&self, mode: Mode) -> String {
        format!("bench.privacy.{}.detections.{}", self.tag, mode.name())
    }

    fn events(&self, mode: Mode) -> String {
        format!("bench.privacy.{}.events.{}", self.tag, mode.name())
    }

    fn dead_letters(&self) -> String {
        format!("bench.privacy.{}.dlq", self.tag)
    }

    fn common(&self, port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA__BROKERS", stack::kafka().brokers),
            ("POSTGRES_URL", self.db.url.clone()),
            ("MODELS_DIR", self.models.clone()),
            ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ]
    }

    /// One ingest run over the video: frames/s and detections delivered.
    async fn ingest(&self, mode: Mode, run: &str) -> anyhow::Result<(f64, u64)> {
        let port = stack::free_port()?;
        let mut settings = self.common(port);
        settings.extend([
            ("TOPIC", self.detections(mode)),
            ("PRIVACY__SEAL", mode.seal()),
            ("SOURCES__ALLOW_LOCAL_FILES", "true".into()),
        ]);
        let log = format!("bench-privacy-{}-ingest-{run}", self.tag);
        let ingest = ServiceProcess::start("sightline-ingest", "INGEST", "METRICS_ADDR", &[], &settings, &log)?;
        answering(port, "/v1/streams", OPERATOR).await?;
        let stream = json!({"name": format!("bench {run}"), "source_url": self.video, "site": "bench"});
        let (status, created) = call(port, "POST", "/v1/streams", OPERATOR, Some(stream))?;
        anyhow::ensure!(status == 201, "adding the recording: {status} {created}");
        let id = created["id"].as_str().context("the stream's id")?.to_owned();
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut running_since = None;
        let state = loop {
            anyhow::ensure!(Instant::now() < deadline, "ingest did not finish the video in 10 minutes");
            let (_, view) = call(port, "GET", &format!("/v1/streams/{id}"), OPERATOR, None)?;
            let state = view["state"].clone();
            match state["phase"].as_str() {
                Some("running") if running_since.is_none() => running_since = state["since_ms"].as_i64(),
                Some("finished") => break state,
                Some("failed") => anyhow::bail!("the recording failed: {state}"),
                _ => {}
            }
            tokio::time::sleep(POLL).await;
        };
        let frames = state["frames"].as_u64().unwrap_or(0);
        let delivered = state["events_delivered"].as_u64().unwrap_or(0);
        anyhow::ensure!(state["events_failed"].as_u64() == Some(0), "undelivered detections: {state}");
        let since = running_since.context("the recording was never seen running (poll too slow?)")?;
        let last = state["last_frame_ms"].as_i64().context("no frame analysed")?;
        let (status, _) = call(port, "DELETE", &format!("/v1/streams/{id}"), OPERATOR, None)?;
        anyhow::ensure!(status == 204, "removing the recording: {status}");
        ingest.terminate(Duration::from_secs(30));
        anyhow::ensure!(frames > 0 && delivered > 0 && last > since, "nothing analysed: {state}");
        Ok((frames as f64 * 1000.0 / (last - since) as f64, delivered))
    }

    /// One enrich run over `count` detections of `mode`: detections/s.
    async fn enrich(&self, mode: Mode, run: &str, count: u64) -> anyhow::Result<f64> {
        let port = stack::free_port()?;
        let mut settings = self.common(port);
        settings.extend([
            ("INPUT_TOPIC", self.detections(mode)),
            ("OUTPUT_TOPIC", self.events(mode)),
            ("DLQ_TOPIC", self.dead_letters()),
            ("GROUP_ID", format!("bench-privacy-{}-enrich-{run}", self.tag)),
            ("PRIVACY__SEAL", mode.seal()),
        ]);
        let log = format!("bench-privacy-{}-enrich-{run}", self.tag);
        let enrich = ServiceProcess::start("sightline-enrich", "ENRICH", "METRICS_ADDR", &[], &settings, &log)?;
        let metric = |name: &str| enrich.metric(name).unwrap_or(0.0) as u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut first = None;
        loop {
            anyhow::ensure!(Instant::now() < deadline, "enrich did not finish {count} detections in 10 minutes");
            if first.is_none() && metric("sightline_enrich_consumed_total") > 0 {
                first = Some(Instant::now());
            }
            if metric("sightline_enrich_produced_total") + metric("sightline_enrich_dead_lettered_total") >= count {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let elapsed = first.context("enrich consumed nothing")?.elapsed();
        anyhow::ensure!(metric("sightline_enrich_dead_lettered_total") == 0, "enrich dead-lettered detections");
        enrich.terminate(Duration::from_secs(30));
        Ok(count as f64 / elapsed.as_secs_f64())
    }

    /// Enrols [`LISTED`] through an enrich process (the watchlist lives in the shared database).
    async fn enrol(&self) -> anyhow::Result<()> {
        let port = stack::free_port()?;
        let mut settings = self.common(port);
        settings.extend([
            ("INPUT_TOPIC", self.detections(Mode::Clear)),
            ("OUTPUT_TOPIC", self.events(Mode::Clear)),
            ("DLQ_TOPIC", self.dead_letters()),
            ("GROUP_ID", format!("bench-privacy-{}-enrol", self.tag)),
        ]);
        let log = format!("bench-privacy-{}-enrol", self.tag);
        let enrich = ServiceProcess::start("sightline-enrich", "ENRICH", "METRICS_ADDR", &[], &settings, &log)?;
        enrol_listed(port, &self.models, &LISTED).await?;
        enrich.terminate(Duration::from_secs(30));
        Ok(())
    }
}

/// Prints a round's `rates` (clear, sealed) of `stage`; their sealed/clear ratio.
fn round_ratio(round: usize, stage: &str, unit: &str, rates: [f64; 2]) -> f64 {
    let ratio = rates[1] / rates[0];
    println!("round {round}: {stage} clear={:.1} sealed={:.1} {unit}; sealed/clear={ratio:.3}", rates[0], rates[1]);
    ratio
}

/// Runs `rounds` rounds of each stage, printing each run; the ratios per round.
pub async fn ingest_and_enrich(rounds: usize) -> anyhow::Result<StageRatios> {
    let models = std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR (run `make models`)")?;
    let (video, _) = long_test_video(VIDEO_SECONDS)?;
    let db = TestDatabase::create("bench_privacy_stages").await?;
    sightline_common::auth::register(&db.pool, "operator", OPERATOR, Role::Operator).await?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let bench = Bench { db, models, video: video.display().to_string(), tag };
    let names = [Mode::Clear, Mode::Sealed].into_iter().flat_map(|mode| [bench.detections(mode), bench.events(mode)]);
    let specs: Vec<TopicSpec> = names
        .chain([bench.dead_letters()])
        .map(|name| TopicSpec { name, partitions: 3, replication: 1, retention_ms: -1 })
        .collect();
    sightline_common::kafka::ensure_topics(&stack::kafka(), &specs).await?;
    bench.enrol().await?;

    let order = |round: usize| if round % 2 == 1 { [Mode::Clear, Mode::Sealed] } else { [Mode::Sealed, Mode::Clear] };
    let (mut ratios, mut detections) = (StageRatios { ingest: Vec::new(), enrich: Vec::new() }, [0u64; 2]);
    for round in 1..=rounds {
        let mut rates = [0.0; 2];
        for mode in order(round) {
            let (rate, delivered) = bench.ingest(mode, &format!("r{round}{}", mode.name())).await?;
            rates[mode as usize] = rate;
            detections[mode as usize] += delivered;
        }
        ratios.ingest.push(round_ratio(round, "ingest", "frames/s", rates));
    }
    println!("enrich reads {} detections in clear, {} sealed, per run", detections[0], detections[1]);
    for round in 1..=rounds {
        let mut rates = [0.0; 2];
        for mode in order(round) {
            let run = format!("r{round}{}", mode.name());
            rates[mode as usize] = bench.enrich(mode, &run, detections[mode as usize]).await?;
        }
        ratios.enrich.push(round_ratio(round, "enrich", "detections/s", rates));
    }
    bench.db.remove().await?;
    Ok(ratios)
}
