//! A stream worker on the test video against the real broker: one detection event per person on
//! `sightline.detections.v1`-shaped topic, keyed by the stream, with a best shot that is a face; and
//! over RTSP, a dropped connection ends the tracks in view at once.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{cast, encode_cast_video, face_detector, free_port, person_detector, serve_rtsp};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_common::clock::now_ms;
use sightline_common::kafka::TopicSpec;
use sightline_ingest::events::StreamContext;
use sightline_ingest::frame::RgbFrame;
use sightline_ingest::snapshot::SnapshotSlot;
use sightline_ingest::source::{Phase, SourceSpec};
use sightline_ingest::track::TrackerSettings;
use sightline_ingest::worker::{MediaClock, Models, StreamWorker, WorkerSettings};
use sightline_schemas::v1::{DetectionEvent, ObjectKind, TrackReportKind};
use sightline_testkit::stack::kafka;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_video_yields_one_event_per_person_on_kafka() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-worker-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let topic = format!("test.ingest.{tag}.detections");
    sightline_common::kafka::ensure_topics(
        &kafka(),
        &[TopicSpec { name: topic.clone(), partitions: 3, replication: 1, retention_ms: -1 }],
    )
    .await?;

    let stream = uuid::Uuid::new_v4();
    let board = sightline_ingest::snapshot::SnapshotBoard::default();
    let snapshots = SnapshotSlot {
        board: board.clone(),
        stream,
        blur_faces_for_viewers: false,
        live: sightline_ingest::live::LiveViews::default().start(stream),
    };
    let modified_ms = std::fs::metadata(&video)?.modified()?.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let settings = file_settings(format!("cam-{tag}"), &video, topic.clone(), Some(snapshots));
    let worker = StreamWorker::start(settings, Models { faces: face_detector(), people: Some(person_detector()) })?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while worker.status().phase != Phase::Finished && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(worker.status().phase, Phase::Finished, "{:?}", worker.status());
    let frames = worker.status().frames;
    let counters = worker.counters_handle();
    tokio::task::spawn_blocking(move || worker.stop(Duration::from_secs(30))).await?;
    let (delivered, failed) = (counters.delivered.load(Ordering::Relaxed), counters.failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "no delivery failed");
    assert!(delivered >= people.len() as u64, "{delivered} deliveries after {frames} frames");
    let finished_ms = now_ms();
    // The last analysed frame is kept as a JPEG of the analysed size, stamped on the file's timeline.
    let snapshot = board.read().expect("board").get(&stream).cloned().expect("a snapshot");
    let frame = RgbFrame::decode(&snapshot.jpeg)?;
    assert_eq!((frame.width, frame.height), (640, 360));
    assert!(snapshot.capture_ms <= modified_ms + 500, "{} on the file's timeline", snapshot.capture_ms);

    let mut config = kafka().client_config();
    config.set("group.id", format!("test-ingest-{tag}")).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&topic])?;
    let mut events = Vec::new();
    // Read until no more arrives for 3 s.
    while let Ok(message) =
        tokio::time::timeout(Duration::from_secs(if events.is_empty() { 30 } else { 3 }), consumer.recv()).await
    {
        let message = message?;
        assert_eq!(message.key(), Some(format!("cam-{tag}").as_bytes()), "keyed by stream id");
        events.push(DetectionEvent::decode(message.payload().unwrap_or_default())?);
    }
    assert_eq!(events.len() as u64, delivered, "every acknowledged event is on the topic");
    // The person detector may also see a person in a pasted head and shoulders: bodies have no landmarks.
    assert!(events.iter().filter(|e| e.kind == ObjectKind::Body as i32).all(|e| e.landmarks.is_empty()));
    // One face track per person, reported while in view and once at its end, in sequence.
    let mut face_tracks: std::collections::BTreeMap<&str, Vec<&DetectionEvent>> = Default::default();
    for event in events.iter().filter(|e| e.kind == ObjectKind::Face as i32) {
        face_tracks.entry(event.track_id.as_str()).or_default().push(event);
    }
    assert_eq!(face_tracks.len(), people.len(), "one face track per person");
    for reports in face_tracks.values() {
        let sequences: Vec<u32> = reports.iter().map(|r| r.report_sequence).collect();
        assert_eq!(sequences, (0..reports.len() as u32).collect::<Vec<_>>(), "reports in sequence");
        assert_eq!(reports[0].report_kind, TrackReportKind::First as i32, "reported first while in view");
        assert_eq!(reports.iter().filter(|r| r.track_ended).count(), 1, "ended once");
    }
    let faces: Vec<&DetectionEvent> = face_tracks.values().filter_map(|reports| reports.last().copied()).collect();
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    for event in &faces {
        assert_eq!(event.schema_version, sightline_schemas::v1::SCHEMA_VERSION);
        assert_eq!((event.site.as_str(), event.frame_width, event.frame_height), ("lobby", 640, 360));
        assert!(event.track_ended);
        assert_eq!(event.report_kind, TrackReportKind::Ended as i32);
        assert_eq!(event.landmarks.len(), 5);
        assert!(event.frame_count >= 10, "{} frames", event.frame_count);
        assert!(event.first_seen_ms <= event.capture_time_ms && event.capture_time_ms <= event.last_seen_ms);
        // A file is stamped on its own timeline: it was recorded (last written) at `modified_ms`,
        // so its frames were taken in the video's length before that, never after, however fast
        // the analysis ran (it finished at `finished_ms`).
        let (earliest_ms, latest_ms) = (modified_ms - common::VIDEO.duration_ms - 500, modified_ms + 500);
        assert!(
            earliest_ms <= event.first_seen_ms && event.last_seen_ms <= latest_ms && latest_ms <= finished_ms,
            "capture times on the file's timeline: {}..{} not in {earliest_ms}..{latest_ms}",
            event.first_seen_ms,
            event.last_seen_ms
        );
        let jpeg = event.best_shot_jpeg.as_ref().expect("best shot");
        let crop = RgbFrame::decode(jpeg)?;
        let found = detector.detect(&crop)?;
        assert!(found.first().is_some_and(|f| f.score > 0.8), "the best shot is a face: {found:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A live stream whose server dies mid-video: the person in view is reported as soon as the
/// connection drops, not when (if ever) frames resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_live_connection_ends_its_tracks_at_once() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-worker-live-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let port = free_port();
    let mut server = serve_rtsp(port, Some(&video));
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let topic = format!("test.ingest.{tag}.live");
    sightline_common::kafka::ensure_topics(
        &kafka(),
        &[TopicSpec { name: topic.clone(), partitions: 1, replication: 1, retention_ms: -1 }],
    )
    .await?;
    let settings = WorkerSettings {
        context: StreamContext {
            stream_id: format!("live-{tag}"),
            site: "gate".into(),
            frame_width: 0,
            frame_height: 0,
            count_only_unmatched_faces: false,
            instance: String::new(),
        },
        source: SourceSpec {
            analysis_fps: 5,
            width: 640,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(2),
            ..SourceSpec::new(format!("rtsp://127.0.0.1:{port}/live"))
        },
        tracker: TrackerSettings::default(),
        kafka: kafka(),
        topic: topic.clone(),
        roi: None,
        metrics: Default::default(),
        clock: MediaClock::Live,
        snapshot: None,
        sealer: None,
        recorder: None,
    };
    let worker = StreamWorker::start(settings, Models { faces: face_detector(), people: None })?;
    let counters = worker.counters_handle();

    // The server plays the video in real time; Obama is in view from 0.5 s to 4.5 s. He is
    // reported while in view; cut at ~3 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    while worker.status().frames < 15 {
        anyhow::ensure!(Instant::now() < deadline, "no frames from the server: {:?}", worker.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut config = kafka().client_config();
    config.set("group.id", format!("test-ingest-live-{tag}")).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&topic])?;
    let next = || async {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
        anyhow::Ok(DetectionEvent::decode(message.payload().unwrap_or_default())?)
    };
    let first = next().await?;
    assert_eq!((first.kind, first.report_kind), (ObjectKind::Face as i32, TrackReportKind::First as i32));
    assert!(!first.track_ended, "reported while still in view");
    server.kill();
    let killed_ms = now_ms();

    let deadline = Instant::now() + Duration::from_secs(15);
    let event = loop {
        let event = next().await?;
        if event.track_ended {
            break event;
        }
        anyhow::ensure!(Instant::now() < deadline, "no end after the connection dropped: {:?}", worker.status());
    };
    assert_ne!(worker.status().phase, Phase::Running, "the server is down");
    assert_eq!(event.track_id, first.track_id);
    assert!(counters.delivered.load(Ordering::Relaxed) >= 2);
    // Capture times come from the stream's timestamps anchored at its first frame's arrival, so they
    // may run up to the first frame's delivery latency ahead of the wall clock: allow a second.
    assert!(
        event.frame_count >= 5 && event.last_seen_ms <= killed_ms + 1_000,
        "{} frames, last seen {} ms, server killed at {killed_ms} ms",
        event.frame_count,
        event.last_seen_ms
    );
    tokio::task::spawn_blocking(move || worker.stop(Duration::from_secs(30))).await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A stream whose detections cannot reach Kafka (its topic does not exist) says so in its state,
/// instead of looking healthy while every event is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_detections_show_in_the_streams_state() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-worker-lost-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let missing = format!("test.ingest.{tag}.never-created");
    let settings = file_settings(format!("lost-{tag}"), &video, missing, None);
    let worker = StreamWorker::start(settings, Models { faces: face_detector(), people: None })?;
    // The producer gives up on a topic the broker does not have within its metadata timeout.
    let deadline = Instant::now() + Duration::from_secs(120);
    while worker.status().delivery_error.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = worker.status();
    assert!(status.events_failed > 0 && status.events_delivered == 0, "{status:?}");
    let error = status.delivery_error.clone().unwrap_or_default();
    assert!(error.to_lowercase().contains("topic"), "the reason names the topic problem: {error}");
    tokio::task::spawn_blocking(move || worker.stop(Duration::from_secs(5))).await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A worker reading `video` at 5 fps and 640 pixels wide as stream `stream_id` of site "lobby",
/// producing to `topic`.
fn file_settings(
    stream_id: String,
    video: &std::path::Path,
    topic: String,
    snapshot: Option<SnapshotSlot>,
) -> WorkerSettings {
    WorkerSettings {
        context: StreamContext {
            stream_id,
            site: "lobby".into(),
            frame_width: 0,
            frame_height: 0,
            count_only_unmatched_faces: false,
            instance: String::new(),
        },
        source: SourceSpec { analysis_fps: 5, width: 640, ..SourceSpec::new(video.display().to_string()) },
        tracker: TrackerSettings::default(),
        kafka: kafka(),
        topic,
        roi: None,
        metrics: Default::default(),
        clock: MediaClock::for_source(&video.display().to_string(), None),
        snapshot,
        sealer: None,
        recorder: None,
    }
}
