//! The test video through the real source, detector and tracker: three people (heads cut from real
//! photos) enter, move and leave at known times; each must come out as one face track whose best
//! shot is a face at the right place.
//!
//! Tolerances, and why: the video is analysed at 5 fps, so first/last sightings can be off by one
//! analysed frame (200 ms) plus the time a face needs to be fully inside the frame to be detected
//! (200 ms more); boxes are compared by IoU >= 0.5 because RetinaFace's box is tighter or looser than
//! the box found on the photo by a few pixels, and the analysed frame is half the video's size.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{cast, encode_cast_video, face_detector};
use sightline_ingest::frame::BoxF;
use sightline_ingest::source::{FrameSource, Phase, SourceFrame, SourceSpec};
use sightline_ingest::testmedia::Actor;
use sightline_ingest::track::{Detection, Kind, ReportReason, TrackReport, Tracker, TrackerSettings};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn each_person_becomes_one_track_with_a_good_best_shot() {
    let mut detector = face_detector();
    let cast = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-tracks-{}", std::process::id()));
    let video = encode_cast_video(&cast, &dir);

    // Source at 5 analysed fps, 640 px wide: half the video's size.
    let frames = Arc::new(Mutex::new(Vec::new()));
    let source = FrameSource::start(
        SourceSpec { analysis_fps: 5, width: 640, ..SourceSpec::new(video.display().to_string()) },
        {
            let frames = frames.clone();
            move |f: SourceFrame| frames.lock().expect("lock").push(f)
        },
    )
    .expect("source");
    let deadline = Instant::now() + Duration::from_secs(60);
    while source.status().phase != Phase::Finished && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(source.status().phase, Phase::Finished);
    let frames = std::mem::take(&mut *frames.lock().expect("lock"));
    assert!(frames.len() >= 38, "{} analysed frames", frames.len());

    let detections: Vec<Vec<Detection>> = frames
        .iter()
        .map(|frame| {
            detector
                .detect(&frame.frame)
                .expect("detects")
                .into_iter()
                .map(|f| Detection { kind: Kind::Face, bbox: f.bbox, score: f.score, landmarks: f.landmarks.to_vec() })
                .collect()
        })
        .collect();
    // Each report with the capture time of the frame that produced it.
    let track = |settings: TrackerSettings| {
        let mut tracker = Tracker::new(settings, "cast");
        let mut reports: Vec<(i64, TrackReport)> = Vec::new();
        for (frame, detections) in frames.iter().zip(&detections) {
            let due = tracker.update(frame.pts_ms, &frame.frame, detections);
            reports.extend(due.into_iter().map(|r| (frame.pts_ms, r)));
        }
        let end = frames.last().map_or(0, |f| f.pts_ms);
        reports.extend(tracker.finish().into_iter().map(|r| (end, r)));
        reports
    };
    let end_only = TrackerSettings { live_reports: false, ..Default::default() };
    let reports: Vec<TrackReport> = track(end_only).into_iter().map(|(_, r)| r).collect();
    assert!(reports.iter().all(|r| r.reason == ReportReason::Ended && r.sequence == 0));

    let scale = 0.5; // analysed frame / video frame
    let truth = |actor: &Actor, t: i64| {
        actor.face_box(t).map(|b| BoxF {
            x: b.x * scale,
            y: b.y * scale,
            width: b.width * scale,
            height: b.height * scale,
        })
    };
    assert_eq!(reports.len(), cast.len(), "one track per person: {:?}", summary(&reports));
    for actor in &cast {
        let matching: Vec<&TrackReport> = reports
            .iter()
            .filter(|r| truth(actor, r.best_shot.time_ms).is_some_and(|b| b.iou(&r.best_shot.bbox) >= 0.5))
            .collect();
        assert_eq!(matching.len(), 1, "{}: {:?}", actor.head.name, summary(&reports));
        let track = matching[0];
        assert!(
            (track.first_seen_ms - actor.enter_ms).abs() <= 400,
            "{} first seen at {}",
            actor.head.name,
            track.first_seen_ms
        );
        assert!(
            (track.last_seen_ms - actor.leave_ms).abs() <= 400,
            "{} last seen at {}",
            actor.head.name,
            track.last_seen_ms
        );
        // The best shot's crop shows a face (it is what enrich will align and describe).
        let faces = detector.detect(&track.best_shot.crop).expect("re-detects");
        assert!(
            faces.first().is_some_and(|f| f.score > 0.8),
            "{}: best shot is not a face: {faces:?}",
            actor.head.name
        );
    }

    // Live reports: each person's track is reported while in view, within 0.5 s of the face's first
    // detection, and ends once; the same frames give the same track ids.
    let live = track(TrackerSettings::default());
    for ended in &reports {
        let of_track: Vec<&(i64, TrackReport)> = live.iter().filter(|(_, r)| r.track_id == ended.track_id).collect();
        let reasons: Vec<ReportReason> = of_track.iter().map(|(_, r)| r.reason).collect();
        assert_eq!(reasons.first(), Some(&ReportReason::First), "{reasons:?}");
        assert_eq!(reasons.iter().filter(|r| **r == ReportReason::Ended).count(), 1, "{reasons:?}");
        let (reported_at, first) = of_track[0];
        assert!(
            reported_at - first.first_seen_ms <= 500,
            "first report {} ms after the first detection",
            reported_at - first.first_seen_ms
        );
        assert!(*reported_at < ended.last_seen_ms, "reported while still in view");
        let (_, last) = of_track[of_track.len() - 1];
        assert_eq!(
            (last.first_seen_ms, last.last_seen_ms, last.frame_count),
            (ended.first_seen_ms, ended.last_seen_ms, ended.frame_count)
        );
    }
    assert_eq!(live.iter().filter(|(_, r)| r.ended()).count(), reports.len());
    let _ = std::fs::remove_dir_all(dir);
}

fn summary(reports: &[TrackReport]) -> Vec<(i64, i64, u32, i64)> {
    reports.iter().map(|r| (r.first_seen_ms, r.last_seen_ms, r.frame_count, r.best_shot.time_ms)).collect()
}
