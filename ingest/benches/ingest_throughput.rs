//! `make bench-ingest`: analysed frames per second through the whole ingest path (GStreamer decode and
//! scaling, face and person detection, tracking, JPEG best shots, idempotent produce to Kafka) against
//! raw ONNX Runtime running the same two models, with the same thread counts, on the same decoded
//! frames, in one run.
//!
//! The raw peer's clock covers the two models' runs alone (their inputs are prepared outside it): the
//! ceiling. The ingest run starts from the encoded file, as a stream would, and its clock stops when the
//! last frame has been analysed and its events queued; the wait for the broker's acknowledgements
//! after that is printed separately (`drain_ms`), and every event must be acknowledged.
//!
//! The two alternate for `BENCH_ROUNDS` rounds, so that a noisy neighbour or a frequency change hits
//! both alike; each round gives a ratio and the median is printed as `ingest_vs_raw_model=RATIO`
//! (goal >= 0.9), with how many 720p streams at 5 analysed fps this machine sustains (the median
//! ingest frames/s over 5). Environment: `SIGHTLINE_MODELS_DIR` (required), `SIGHTLINE_KAFKA_BROKERS`,
//! `BENCH_THREADS` (ONNX Runtime intra-op threads per model, default 2), `BENCH_SECONDS` (video
//! length, default 16), `BENCH_ROUNDS` (default 3).

use anyhow::{Context, anyhow, ensure};
use ort::session::Session;
use ort::value::Tensor;
use sightline_common::kafka::TopicSpec;
use sightline_ingest::detect::{
    self, FaceDetector, FaceDetectorSettings, ModelFiles, PersonDetector, PersonDetectorSettings,
};
use sightline_ingest::events::StreamContext;
use sightline_ingest::frame::RgbFrame;
use sightline_ingest::snapshot::SnapshotSlot;
use sightline_ingest::source::{FrameSource, Phase, SourceFrame, SourceSpec};
use sightline_ingest::testmedia::{STANDARD_VIDEO, VideoSpec, encode, repeated_cast, standard_cast};
use sightline_ingest::track::TrackerSettings;
use sightline_ingest::worker::{MediaClock, Models, StreamWorker, WorkerSettings};
use sightline_testkit::rounds::{median, summary};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Analysed frame width, as the service's default `analysis_width` (a 720p stream scaled by half).
const ANALYSIS_WIDTH: u32 = 640;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn detectors(files: &ModelFiles, threads: usize) -> anyhow::Result<(FaceDetector, PersonDetector)> {
    let environment = detect::runtime(&files.runtime_library())?;
    let faces =
        FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings { threads, ..Default::default() })?;
    let people = PersonDetector::new(
        &environment,
        &files.person_model(),
        PersonDetectorSettings { threads, ..Default::default() },
    )?;
    Ok((faces, people))
}

/// Every frame of `video` as the service's source delivers it.
fn decode_all(video: &Path, fps: u32) -> anyhow::Result<Vec<RgbFrame>> {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = frames.clone();
    let spec = SourceSpec { analysis_fps: fps, width: ANALYSIS_WIDTH, ..SourceSpec::new(video.display().to_string()) };
    let source = FrameSource::start(spec, move |f: SourceFrame| {
        if let Ok(mut frames) = sink.lock() {
            frames.push(f.frame);
        }
    })?;
    while !matches!(source.status().phase, Phase::Finished | Phase::Failed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure!(source.status().phase == Phase::Finished, "decoding failed: {:?}", source.status());
    source.stop();
    let frames = std::mem::take(&mut *frames.lock().map_err(|_| anyhow!("lock poisoned"))?);
    Ok(frames)
}

/// The two models on bare sessions with the options the detectors use (same intra-op threads, one
/// inter-op thread), fed the detectors' own input tensors.
struct RawPeer {
    faces: FaceDetector,
    people: PersonDetector,
    face_session: Session,
    person_session: Session,
}

impl RawPeer {
    fn new(files: &ModelFiles, threads: usize) -> anyhow::Result<Self> {
        let (faces, people) = detectors(files, threads)?;
        let environment = detect::runtime(&files.runtime_library())?;
        let face_session = detect::session(&environment, &files.face_model(), threads)?;
        let person_session = detect::session(&environment, &files.person_model(), threads)?;
        Ok(Self { faces, people, face_session, person_session })
    }

    /// Runs both models on `frame`; returns the time spent in them.
    fn run(&mut self, frame: &RgbFrame) -> anyhow::Result<Duration> {
        let face = Tensor::from_array(self.faces.input_tensor(frame)?.0)?;
        let person = Tensor::from_array(self.people.input_tensor(frame).0)?;
        let started = Instant::now();
        let outputs = self.face_session.run(ort::inputs!["input" => face])?;
        std::hint::black_box(outputs["conf"].try_extract_tensor::<f32>()?.1.len());
        drop(outputs);
        let outputs = self.person_session.run(ort::inputs!["image_tensor:0" => person])?;
        std::hint::black_box(outputs["detection_scores:0"].try_extract_tensor::<f32>()?.1.len());
        Ok(started.elapsed())
    }

    /// Frames/s of the two models alone over `frames`.
    fn frames_per_second(&mut self, frames: &[RgbFrame]) -> anyhow::Result<f64> {
        self.run(frames.first().context("no frames")?)?; // warm-up
        let mut busy = Duration::ZERO;
        for frame in frames {
            busy += self.run(frame)?;
        }
        Ok(frames.len() as f64 / busy.as_secs_f64())
    }

    /// Milliseconds per frame to prepare both models' inputs (part of ingest, not of the peer's clock).
    fn preprocessing_ms(&self, frames: &[RgbFrame]) -> anyhow::Result<f64> {
        let started = Instant::now();
        for frame in frames {
            std::hint::black_box(self.faces.input_tensor(frame)?);
            std::hint::black_box(self.people.input_tensor(frame));
        }
        Ok(started.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64)
    }
}

/// One ingest run over the encoded video.
struct IngestRun {
    frames_per_second: f64,
    analysed: u64,
    delivered: u64,
    drain: Duration,
}

/// A stream worker over `video`, from the encoded file to acknowledged events.
fn ingest_run(
    files: &ModelFiles,
    threads: usize,
    video: &Path,
    fps: u32,
    warm_up: &RgbFrame,
) -> anyhow::Result<IngestRun> {
    let kafka = sightline_testkit::stack::kafka();
    let topic = format!("bench.ingest.{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    tokio::runtime::Runtime::new()?.block_on(sightline_common::kafka::ensure_topics(
        &kafka,
        &[TopicSpec { name: topic.clone(), partitions: 1, replication: 1, retention_ms: 3_600_000 }],
    ))?;
    let (mut faces, mut people) = detectors(files, threads)?;
    faces.detect(warm_up)?;
    people.detect(warm_up)?;
    let settings = WorkerSettings {
        context: StreamContext {
            stream_id: "bench".into(),
            site: "bench".into(),
            frame_width: 0,
            frame_height: 0,
            count_only_unmatched_faces: false,
            instance: String::new(),
        },
        source: SourceSpec { analysis_fps: fps, width: ANALYSIS_WIDTH, ..SourceSpec::new(video.display().to_string()) },
        tracker: TrackerSettings::default(),
        kafka,
        topic,
        roi: None,
        metrics: Default::default(),
        clock: MediaClock::for_source(&video.display().to_string(), None),
        // As in production: a snapshot a second.
        snapshot: Some(SnapshotSlot {
            board: Default::default(),
            stream: uuid::Uuid::nil(),
            blur_faces_for_viewers: false,
            live: sightline_ingest::live::LiveViews::default().start(uuid::Uuid::nil()),
        }),
        // Sealing's cost is measured by `make bench-privacy`.
        sealer: None,
        // Clips' cost is measured by `make bench-media`.
        recorder: None,
    };
    let started = Instant::now();
    let worker = StreamWorker::start(settings, Models { faces, people: Some(people) })?;
    while !matches!(worker.status().phase, Phase::Finished | Phase::Failed) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let status = worker.status();
    ensure!(status.phase == Phase::Finished, "the stream failed: {status:?}");
    let counters = worker.counters_handle();
    let draining = Instant::now();
    worker.stop(Duration::from_secs(30));
    let failed = counters.failed.load(Ordering::Relaxed);
    ensure!(failed == 0, "{failed} events were not delivered");
    Ok(IngestRun {
        frames_per_second: status.frames as f64 / elapsed.as_secs_f64(),
        analysed: status.frames,
        delivered: counters.delivered.load(Ordering::Relaxed),
        drain: draining.elapsed(),
    })
}

fn main() -> anyhow::Result<()> {
    let files = ModelFiles {
        dir: std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR (run `make models`)")?.into(),
    };
    let threads: usize = env_or("BENCH_THREADS", 2);
    let duration_ms: i64 = env_or::<i64>("BENCH_SECONDS", 16) * 1000;
    let rounds: usize = env_or("BENCH_ROUNDS", 3).max(1);
    let dir = std::env::temp_dir().join(format!("sightline-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let video_path = dir.join("people-720p.mp4");
    let spec = VideoSpec { duration_ms, ..STANDARD_VIDEO };
    {
        let (mut faces, _) = detectors(&files, threads)?;
        let cast = standard_cast(&mut faces, &files.dir.join("images")).map_err(|e| anyhow!(e))?;
        encode(&spec, &repeated_cast(&cast, duration_ms), &video_path).map_err(|e| anyhow!(e))?;
    }
    let frames = decode_all(&video_path, spec.fps)?;
    ensure!(!frames.is_empty(), "no frames decoded");
    println!(
        "video: {}x{} H.264, {} frames analysed at {}x{}; ONNX Runtime threads per model: {threads}",
        spec.width,
        spec.height,
        frames.len(),
        frames[0].width,
        frames[0].height
    );

    let mut peer = RawPeer::new(&files, threads)?;
    println!("preprocessing_ms_per_frame={:.2} (both models' inputs, part of ingest)", peer.preprocessing_ms(&frames)?);
    let (mut ratios, mut ingest_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let raw_fps = peer.frames_per_second(&frames)?;
        let run = ingest_run(&files, threads, &video_path, spec.fps, &frames[0])?;
        ensure!(run.analysed as usize == frames.len(), "ingest analysed {} of {} frames", run.analysed, frames.len());
        ensure!(run.delivered > 0, "no event was acknowledged");
        let ratio = run.frames_per_second / raw_fps;
        println!(
            "round {round}: raw_model_frames_per_s={raw_fps:.1} ingest_frames_per_s={:.1} ratio={ratio:.2} \
             (events acknowledged: {}, drain_ms={})",
            run.frames_per_second,
            run.delivered,
            run.drain.as_millis()
        );
        ratios.push(ratio);
        ingest_rates.push(run.frames_per_second);
    }
    println!("ingest_vs_raw_model={:.2}", median(&ratios));
    println!("spread: ingest_vs_raw_model {}", summary(&ratios));
    println!("streams_720p_at_5fps={}", (median(&ingest_rates) / 5.0).floor() as u64);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
