//! `make bench-media`: what clips cost (docs/media.md).
//!
//! - `clip_overhead=`: the CPU time of a stream's whole ingest path (decode, detection, tracking,
//!   events) with clips (ring, muxing, storing in Garage) against without, over the same encoded
//!   720p video read as a file as fast as analysis goes. The process's own CPU accounting
//!   (`getrusage`) over each run; the two alternate for `BENCH_ROUNDS` rounds and the median ratio is
//!   printed (goal: under 10 %). Garage's own CPU, a separate process, is not counted.
//! - `clip_ready_p95_ms=`: over RTSP in real time, from each track's first report (its
//!   `processing_time_ms`) to its clip being playable (its init segment and first media segment
//!   stored, polled every 20 ms).
//! - `clip_bytes_per_camera_hour=`: the clips' bytes stored per hour of this busy video (people in
//!   view all the time, faces and bodies each with their clip), beside the video's own bitrate.
//! - `live_overhead=`: the same path's CPU time while one person watches the stream's live view
//!   (every analysed frame rendered as a JPEG and made a part of the view) against unwatched (a
//!   snapshot a second, as in production), in the same alternating rounds; and the view's bitrate
//!   per viewer (`live_kbit_per_viewer=`).
//!
//! Environment: `SIGHTLINE_MODELS_DIR` (required), the stack's (`infra/stack env`), `BENCH_SECONDS`
//! (video length, default 24), `BENCH_ROUNDS` (default 3).

use anyhow::{Context, anyhow, ensure};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_common::kafka::TopicSpec;
use sightline_ingest::clip::upload::ClipUploads;
use sightline_ingest::clip::{ClipSettings, Clips};
use sightline_ingest::detect::{
    self, FaceDetector, FaceDetectorSettings, ModelFiles, PersonDetector, PersonDetectorSettings,
};
use sightline_ingest::events::StreamContext;
use sightline_ingest::live::{FacesShown, LiveViews};
use sightline_ingest::metrics::IngestMetrics;
use sightline_ingest::snapshot::SnapshotSlot;
use sightline_ingest::source::{Phase, SourceSpec};
use sightline_ingest::testmedia::{STANDARD_VIDEO, VideoSpec, encode, repeated_cast, standard_cast};
use sightline_ingest::worker::{MediaClock, Models, StreamWorker, WorkerSettings};
use sightline_schemas::v1::DetectionEvent;
use sightline_testkit::rounds::{median, summary};
use sightline_testkit::stack;
use std::path::Path;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time this process has used so far (user and system, every thread).
fn cpu_time() -> Duration {
    sightline_testkit::rounds::cpu_time(sightline_testkit::rounds::CpuOf::ThisProcess)
}

fn models(files: &ModelFiles) -> anyhow::Result<Models> {
    let environment = detect::runtime(&files.runtime_library())?;
    let faces = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let people = PersonDetector::new(&environment, &files.person_model(), PersonDetectorSettings::default())?;
    Ok(Models { faces, people: Some(people) })
}

/// A topic of its own for one run.
fn topic(runtime: &tokio::runtime::Runtime) -> anyhow::Result<String> {
    let topic = format!("bench.media.{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    runtime.block_on(sightline_common::kafka::ensure_topics(
        &stack::kafka(),
        &[TopicSpec { name: topic.clone(), partitions: 1, replication: 1, retention_ms: 3_600_000 }],
    ))?;
    Ok(topic)
}

/// One stream over `url` (a file, or RTSP when `live`), with clips when `clips` is given and its
/// snapshots and live view in `live` (as in production) when given.
fn start(
    files: &ModelFiles,
    url: &str,
    topic: String,
    clips: Option<&Clips>,
    metrics: &IngestMetrics,
    live: Option<&LiveViews>,
) -> anyhow::Result<StreamWorker> {
    let stream_metrics = metrics.stream("bench");
    let recorder = clips.map(|clips| clips.recorder("bench", &stream_metrics));
    let settings = WorkerSettings {
        context: StreamContext {
            stream_id: "bench".into(),
            site: "bench".into(),
            frame_width: 0,
            frame_height: 0,
            count_only_unmatched_faces: false,
            instance: String::new(),
        },
        source: SourceSpec { analysis_fps: 5, width: 640, clips: recorder.clone(), ..SourceSpec::new(url) },
        tracker: Default::default(),
        kafka: stack::kafka(),
        topic,
        roi: None,
        metrics: stream_metrics,
        clock: MediaClock::for_source(url, None),
        snapshot: live.map(|views| SnapshotSlot {
            board: Default::default(),
            stream: BENCH_STREAM,
            blur_faces_for_viewers: false,
            live: views.start(BENCH_STREAM),
        }),
        sealer: None,
        recorder,
    };
    StreamWorker::start(settings, models(files)?)
}

/// The bench's stream, for its live view.
const BENCH_STREAM: uuid::Uuid = uuid::Uuid::nil();

/// What a file run has besides analysis (and a snapshot a second, as in production).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Nothing more.
    Plain,
    /// Clips, stored in Garage.
    Clips,
    /// One viewer of the live view.
    Watched,
}

/// What a file run took and gave.
struct RunCost {
    /// CPU time, from start to every clip piece stored.
    cpu: Duration,
    /// Clip bytes stored.
    clip_bytes: u64,
    /// Bytes of the live view sent to its viewer.
    live_bytes: u64,
}

/// One file run of `run`.
fn file_run(
    runtime: &tokio::runtime::Runtime,
    files: &ModelFiles,
    video: &Path,
    run: Run,
    prefix: &str,
) -> anyhow::Result<RunCost> {
    let metrics = IngestMetrics::unregistered();
    let topic = topic(runtime)?;
    let store = stack::object_store(prefix)?;
    let _guard = runtime.enter();
    let (clips, uploader) = if run == Run::Clips {
        let (uploads, uploader) = ClipUploads::start(store, ClipSettings::default().max_queued_bytes, metrics.clone());
        (Some(Clips { settings: ClipSettings::default(), uploads }), Some(uploader))
    } else {
        (None, None)
    };
    let views = LiveViews::default();
    let before = cpu_time();
    let worker = start(files, &video.display().to_string(), topic, clips.as_ref(), &metrics, Some(&views))?;
    // The viewer takes every part as the API would send it.
    let viewer = (run == Run::Watched).then(|| views.watch_local(BENCH_STREAM, FacesShown::Whole)).flatten();
    let watching = viewer.map(|mut viewer| {
        runtime.spawn(async move {
            let mut bytes = 0;
            while let Some(frame) = viewer.next().await {
                bytes += frame.part().len() as u64;
            }
            bytes
        })
    });
    drop(clips);
    while !matches!(worker.status().phase, Phase::Finished | Phase::Failed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    ensure!(worker.status().phase == Phase::Finished, "the stream failed: {:?}", worker.status());
    worker.stop(Duration::from_secs(30));
    if let Some(uploader) = uploader {
        runtime.block_on(uploader.finish(Duration::from_secs(60)));
    }
    let live_bytes = match watching {
        Some(task) => runtime.block_on(task)?,
        None => 0,
    };
    Ok(RunCost { cpu: cpu_time() - before, clip_bytes: metrics.clip_bytes_of("bench"), live_bytes })
}

/// Over RTSP in real time: ms from each track's first report to its clip being playable.
fn ready_latencies(runtime: &tokio::runtime::Runtime, files: &ModelFiles, video: &Path) -> anyhow::Result<Vec<f64>> {
    let rtsp = sightline_testkit::pipeline::RtspVideo::serve(video)?;
    let metrics = IngestMetrics::unregistered();
    let topic = topic(runtime)?;
    let prefix = format!("bench_media_live_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let store = stack::object_store(&prefix)?;
    let _guard = runtime.enter();
    let (uploads, uploader) =
        ClipUploads::start(store.clone(), ClipSettings::default().max_queued_bytes, metrics.clone());
    let clips = Clips { settings: ClipSettings::default(), uploads };
    let worker = start(files, &rtsp.url, topic.clone(), Some(&clips), &metrics, None)?;
    drop(clips);
    let latencies = runtime.block_on(async {
        let mut config = stack::kafka().client_config();
        config.set("group.id", format!("{topic}-bench")).set("auto.offset.reset", "earliest");
        let reports: StreamConsumer = config.create()?;
        reports.subscribe(&[topic.as_str()])?;
        let mut waits = Vec::new();
        let until = Instant::now() + Duration::from_millis(STANDARD_VIDEO.duration_ms as u64);
        while Instant::now() < until {
            let Ok(message) = tokio::time::timeout(Duration::from_secs(10), reports.recv()).await else { break };
            let report = DetectionEvent::decode(message?.payload().unwrap_or_default())?;
            if report.report_sequence != 0 || report.clip_key.is_empty() {
                continue;
            }
            let store = store.clone();
            waits.push(tokio::spawn(async move {
                let first = format!("{}/{}", report.clip_key, sightline_common::objects::clip_segment_name(1));
                loop {
                    if store.get(&first).await?.is_some() {
                        let now = sightline_common::clock::now_ms();
                        return anyhow::Ok((now - report.processing_time_ms) as f64);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        let mut latencies = Vec::new();
        for wait in waits {
            latencies.push(tokio::time::timeout(Duration::from_secs(30), wait).await???);
        }
        anyhow::Ok(latencies)
    })?;
    worker.stop(Duration::from_secs(30));
    runtime.block_on(uploader.finish(Duration::from_secs(30)));
    runtime.block_on(store.delete_prefix(""))?;
    Ok(latencies)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let files = ModelFiles {
        dir: std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR (run `make models`)")?.into(),
    };
    let duration_ms: i64 = env_or::<i64>("BENCH_SECONDS", 24) * 1000;
    let rounds: usize = env_or("BENCH_ROUNDS", 3).max(1);
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = std::env::temp_dir().join(format!("sightline-bench-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let video = dir.join("people-720p.mp4");
    let spec = VideoSpec { duration_ms, ..STANDARD_VIDEO };
    {
        let mut faces = models(&files)?.faces;
        let cast = standard_cast(&mut faces, &files.dir.join("images")).map_err(|e| anyhow!(e))?;
        encode(&spec, &repeated_cast(&cast, duration_ms), &video).map_err(|e| anyhow!(e))?;
    }
    let video_bytes = std::fs::metadata(&video)?.len() as f64;
    let hours = duration_ms as f64 / 3_600_000.0;
    println!(
        "video: {}x{} H.264, {:.1} s, {:.2} Mbit/s; analysed at 640 px, 5 fps, faces and bodies",
        spec.width,
        spec.height,
        duration_ms as f64 / 1000.0,
        video_bytes * 8.0 / (duration_ms as f64 / 1000.0) / 1e6
    );
    let (mut overheads, mut clip_bytes, mut live_overheads, mut live_bytes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let prefix = format!("bench_media_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let plain = file_run(&runtime, &files, &video, Run::Plain, &prefix)?.cpu.as_secs_f64();
        let clipped = file_run(&runtime, &files, &video, Run::Clips, &prefix)?;
        let watched = file_run(&runtime, &files, &video, Run::Watched, &prefix)?;
        ensure!(clipped.clip_bytes > 0, "no clip was stored");
        ensure!(watched.live_bytes > 0, "the live view showed nothing");
        let overhead = clipped.cpu.as_secs_f64() / plain - 1.0;
        let live_overhead = watched.cpu.as_secs_f64() / plain - 1.0;
        println!(
            "round {round}: cpu_s_plain={plain:.2} cpu_s_with_clips={:.2} cpu_s_watched={:.2} clip_overhead={:.1}% \
             live_overhead={:.1}% clip_bytes={} live_bytes={}",
            clipped.cpu.as_secs_f64(),
            watched.cpu.as_secs_f64(),
            overhead * 100.0,
            live_overhead * 100.0,
            clipped.clip_bytes,
            watched.live_bytes,
        );
        overheads.push(overhead * 100.0);
        live_overheads.push(live_overhead * 100.0);
        clip_bytes.push(clipped.clip_bytes as f64);
        live_bytes.push(watched.live_bytes as f64);
        runtime.block_on(stack::object_store(&prefix)?.delete_prefix(""))?;
    }
    println!("clip_overhead={:.1}%", median(&overheads));
    println!("spread: clip_overhead % {}", summary(&overheads));
    println!("live_overhead={:.1}%", median(&live_overheads));
    println!("spread: live_overhead % {}", summary(&live_overheads));
    // The file's frames are analysed at 5 a second of its own time: the view sends that many.
    println!("live_kbit_per_viewer={:.0}", median(&live_bytes) * 8.0 / (duration_ms as f64 / 1000.0) / 1000.0);
    let per_hour = median(&clip_bytes) / hours;
    println!(
        "clip_bytes_per_camera_hour={:.0} ({:.2} GB; the video itself: {:.2} GB/h, clips_vs_video={:.2})",
        per_hour,
        per_hour / 1e9,
        video_bytes / hours / 1e9,
        median(&clip_bytes) / video_bytes
    );
    let latencies = ready_latencies(&runtime, &files, &dir.join("people-720p.mp4"))?;
    ensure!(!latencies.is_empty(), "no track was reported over RTSP");
    println!(
        "clip_ready_p95_ms={:.0} (median {:.0}, {} tracks over RTSP in real time)",
        percentile(&latencies, 0.95),
        median(&latencies),
        latencies.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
