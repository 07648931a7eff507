//! Clips from a source's own encoded video: the file's H.264 split off before decoding, cut around
//! a track, muxed as fragmented MP4 and decoded again by GStreamer to the same frames, at the same
//! times, as the source.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{cast, encode_cast_video, face_detector};
use sightline_ingest::clip::upload::{ClipUploads, Piece};
use sightline_ingest::clip::{ClipSettings, Clips};
use sightline_ingest::frame::{BoxF, RgbFrame};
use sightline_ingest::metrics::IngestMetrics;
use sightline_ingest::source::{FrameHandler, FrameSource, Phase, SharedRecorder, SourceFrame, SourceSpec};
use sightline_ingest::track::{BestShot, ReportReason, TrackReport};
use sightline_schemas::v1::ObjectKind;
use std::time::{Duration, Instant};

/// A report of track `track` seen from `first_ms` to `last_ms` (capture times; here the file's
/// timeline, its epoch being 0).
fn report(track: uuid::Uuid, first_ms: i64, last_ms: i64, reason: ReportReason) -> TrackReport {
    TrackReport {
        track_id: track,
        kind: ObjectKind::Face,
        first_seen_ms: first_ms,
        last_seen_ms: last_ms,
        frame_count: 1,
        best_shot: BestShot {
            time_ms: first_ms,
            bbox: BoxF { x: 0.0, y: 0.0, width: 10.0, height: 10.0 },
            landmarks: Vec::new(),
            score: 0.9,
            quality: 0.9,
            crop: RgbFrame { width: 1, height: 1, data: vec![0; 3] },
            crop_origin: (0, 0),
        },
        parent_track_id: None,
        reason,
        sequence: u32::from(reason == ReportReason::Ended),
    }
}

/// Analyses `video` to its end at 5 fps and 320 px with `handler`, its encoded frames going to
/// `recorder`, whose open clips end then.
async fn analyse_file(video: &std::path::Path, recorder: &SharedRecorder, handler: impl FrameHandler + 'static) {
    let spec = SourceSpec {
        analysis_fps: 5,
        width: 320,
        clips: Some(recorder.clone()),
        ..SourceSpec::new(video.display().to_string())
    };
    let source = FrameSource::start(spec, handler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while source.status().phase != Phase::Finished {
        assert!(Instant::now() < deadline, "{:?}", source.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    source.stop();
    recorder.lock().unwrap().close_all();
}

/// The pieces queued for the store so far, in order.
fn queued(pieces: &mut tokio::sync::mpsc::UnboundedReceiver<Piece>) -> Vec<Piece> {
    let mut stored = Vec::new();
    while let Ok(piece) = pieces.try_recv() {
        stored.push(piece);
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracks_clip_is_the_sources_own_video_around_it() {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-clips-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let (uploads, mut pieces) = ClipUploads::queue(usize::MAX, IngestMetrics::unregistered());
    let settings = ClipSettings::default();
    let clips = Clips { settings: settings.clone(), uploads };
    let recorder = clips.recorder("cam-clips", &Default::default());

    // A track seen from 4.0 s to 4.5 s of the file: reported first at 4.0 s, ended after 4.6 s.
    let track = uuid::Uuid::new_v4();
    let (first_ms, last_ms) = (4_000, 4_500);
    let reported = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let handler = {
        let (recorder, reported) = (recorder.clone(), reported.clone());
        move |frame: SourceFrame| {
            let mut recorder = recorder.lock().unwrap();
            recorder.set_epoch(Some(0));
            if (first_ms..=last_ms).contains(&frame.pts_ms) {
                // The track's box in this analysed frame (320 x 180), moving right 10 px a frame.
                let x = (frame.pts_ms - first_ms) as f32 / 20.0;
                let bbox = BoxF { x, y: 18.0, width: 32.0, height: 36.0 };
                recorder.observe(frame.pts_ms, 320, 180, &[track], [bbox]);
            }
            let mut reported = reported.lock().unwrap();
            if frame.pts_ms >= first_ms && reported.is_empty() {
                reported.push(recorder.clip_for(&report(track, first_ms, first_ms, ReportReason::First)));
            } else if frame.pts_ms > last_ms + 100 && reported.len() == 1 {
                reported.push(recorder.clip_for(&report(track, first_ms, last_ms, ReportReason::Ended)));
            }
        }
    };
    analyse_file(&video, &recorder, handler).await;

    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 2, "both reports were made");
    let clip = reported[0].clone().expect("the track has a clip");
    assert_eq!(reported[1], Some(clip.clone()), "every report names the same clip");
    let day =
        sightline_common::objects::media_key(sightline_common::objects::MediaKind::Clip, first_ms, "cam-clips", "");
    assert_eq!(clip.key, format!("{day}{track}"));
    // The pre-roll reaches back 3 s, to the key frame before 1 s (there is one a second; the clip's
    // time 0 is its decode time, a few frames before it is shown).
    assert!((0..=1_000).contains(&clip.start_ms), "the clip starts at {} ms", clip.start_ms);

    let mut stored = queued(&mut pieces);
    assert_eq!(stored[0].key, format!("{}/init.mp4", clip.key));
    // Once complete, its init segment is stored again with the clip's length.
    let last = stored.pop().expect("pieces");
    assert_eq!(last.key, stored[0].key);
    assert!(last.bytes.windows(4).any(|w| w == b"mehd"), "the complete clip's length");
    stored[0] = last;
    // Before it, the track's box path: a box per analysed frame it was seen in, on the clip's time.
    let path = stored.pop().expect("pieces");
    assert_eq!(path.key, format!("{}/boxes.json", clip.key));
    let path: serde_json::Value = serde_json::from_slice(&path.bytes).unwrap();
    let boxes = path["tracks"][track.to_string()].as_array().unwrap();
    assert!(boxes.len() >= 2, "a box for each analysed frame from 4.0 to 4.5 s (5 a second): {path}");
    for b in boxes {
        // Each box where it was in its frame, at its frame's time on the clip's timeline.
        let captured = b[0].as_f64().unwrap() + clip.start_ms as f64;
        assert!((first_ms as f64..=last_ms as f64).contains(&captured), "{path}");
        let x = (captured - first_ms as f64) / 20.0 / 320.0;
        assert!((b[1].as_f64().unwrap() - x).abs() < 1e-4 && (b[2].as_f64().unwrap() - 0.1).abs() < 1e-6, "{path}");
        assert!((b[3].as_f64().unwrap() - 0.1).abs() < 1e-6 && (b[4].as_f64().unwrap() - 0.2).abs() < 1e-6, "{path}");
    }
    let names: Vec<String> = stored[1..].iter().map(|p| p.key.rsplit('/').next().unwrap().to_owned()).collect();
    let expected: Vec<String> = (1..=names.len() as u32).map(sightline_common::objects::clip_segment_name).collect();
    assert_eq!(names, expected, "segments in order");
    assert!(names.len() >= 6, "about a segment a second over 6.5 s: {names:?}");
    let bytes: Vec<u8> = stored.iter().flat_map(|p| p.bytes.iter().copied()).collect();
    let clip_path = dir.join("clip.mp4");
    std::fs::write(&clip_path, &bytes).unwrap();

    // The clip decodes to the source's frames from its start up to the post-roll's end (4.5 + 3 s),
    // each at its time in the source less the clip's start.
    let decoded = |path: &std::path::Path| sightline_ingest::testmedia::decode_mp4(path, &[]).unwrap().0;
    let (source_frames, clip_frames) = (decoded(&video), decoded(&clip_path));
    let first_shown = source_frames.iter().find(|f| f.pts_ms >= clip.start_ms).map(|f| f.pts_ms);
    assert_eq!(clip_frames.first().map(|f| f.pts_ms + clip.start_ms), first_shown, "the clip starts at a key frame");
    let last = clip_frames.last().map(|f| f.pts_ms + clip.start_ms);
    assert!(last >= Some(7_400), "to the post-roll's end: {last:?}");
    assert!(clip_frames.len() >= 95, "6.5 s at 15 fps: {} frames", clip_frames.len());
    // Every frame of the clip is the source's frame of that time (the last few, whose decoding
    // order crosses the clip's end, may be left out).
    for frame in &clip_frames {
        let at = frame.pts_ms + clip.start_ms;
        let source = source_frames
            .iter()
            .find(|f| (f.pts_ms - at).abs() <= 1)
            .unwrap_or_else(|| panic!("no source frame at {at} ms"));
        assert!(
            (frame.mean_grey - source.mean_grey).abs() < 0.01,
            "the same picture at {at} ms: {frame:?} vs {source:?}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_face_shares_its_bodys_clip_which_lasts_until_both_ended() {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-clips-shared-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let (uploads, mut pieces) = ClipUploads::queue(usize::MAX, IngestMetrics::unregistered());
    let clips = Clips { settings: ClipSettings::default(), uploads };
    let recorder = clips.recorder("cam-shared", &Default::default());

    // A body seen from 3.0 to 4.0 s; its face from 3.2 to 5.0 s (outlasting it); a face with no
    // body from 3.2 to 3.6 s. Each reported first a little after it was first seen, and when it ended.
    let (body, face, alone) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    // And a face reported before its body (first seen a little later): the body shares its clip.
    let (late_body, early_face) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let early_face_report =
        move |last, reason| TrackReport { parent_track_id: Some(late_body), ..report(early_face, 3_200, last, reason) };
    let late_body_report =
        move |last, reason| TrackReport { kind: ObjectKind::Body, ..report(late_body, 3_300, last, reason) };
    let body_report = move |last, reason| TrackReport { kind: ObjectKind::Body, ..report(body, 3_000, last, reason) };
    let face_report =
        move |last, reason| TrackReport { parent_track_id: Some(body), ..report(face, 3_200, last, reason) };
    type Due = (i64, Box<dyn Fn() -> TrackReport + Send>);
    let schedule: Vec<Due> = vec![
        (3_100, Box::new(move || body_report(3_100, ReportReason::First))),
        (3_400, Box::new(move || face_report(3_400, ReportReason::First))),
        (3_400, Box::new(move || report(alone, 3_200, 3_400, ReportReason::First))),
        (3_400, Box::new(move || early_face_report(3_400, ReportReason::First))),
        (3_500, Box::new(move || late_body_report(3_500, ReportReason::First))),
        (3_900, Box::new(move || late_body_report(3_800, ReportReason::Ended))),
        (3_900, Box::new(move || early_face_report(3_800, ReportReason::Ended))),
        (3_700, Box::new(move || report(alone, 3_200, 3_600, ReportReason::Ended))),
        (4_100, Box::new(move || body_report(4_000, ReportReason::Ended))),
        (5_100, Box::new(move || face_report(5_000, ReportReason::Ended))),
    ];
    let named = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let handler = {
        let (recorder, named) = (recorder.clone(), named.clone());
        let mut schedule = schedule.into_iter().peekable();
        move |frame: SourceFrame| {
            let mut recorder = recorder.lock().unwrap();
            recorder.set_epoch(Some(0));
            // Both boxes in every analysed frame while seen.
            let mut seen = Vec::new();
            if (3_000..=4_000).contains(&frame.pts_ms) {
                seen.push((body, BoxF { x: 100.0, y: 40.0, width: 60.0, height: 130.0 }));
            }
            if (3_200..=5_000).contains(&frame.pts_ms) {
                seen.push((face, BoxF { x: 115.0, y: 45.0, width: 30.0, height: 34.0 }));
            }
            let (tracks, boxes): (Vec<_>, Vec<_>) = seen.into_iter().unzip();
            recorder.observe(frame.pts_ms, 320, 180, &tracks, boxes);
            while schedule.peek().is_some_and(|(at, _)| frame.pts_ms >= *at) {
                let (_, make) = schedule.next().unwrap();
                let report = make();
                named.lock().unwrap().push((report.track_id, recorder.clip_for(&report).expect("a clip")));
            }
        }
    };
    analyse_file(&video, &recorder, handler).await;

    // The face's reports name its body's clip; the lone face has its own.
    let named = named.lock().unwrap().clone();
    assert_eq!(named.len(), 10, "every report was made");
    let clip_of = |track| named.iter().filter(|(t, _)| *t == track).map(|(_, c)| c.clone()).collect::<Vec<_>>();
    let shared = clip_of(body)[0].clone();
    assert!(shared.key.ends_with(&body.to_string()), "{shared:?}");
    assert_eq!(clip_of(body), vec![shared.clone(), shared.clone()]);
    assert_eq!(clip_of(face), vec![shared.clone(), shared.clone()], "the face shares its body's clip");
    assert!(clip_of(alone)[0].key.ends_with(&alone.to_string()), "a face without a body has its own clip");
    let early = clip_of(early_face)[0].clone();
    assert!(early.key.ends_with(&early_face.to_string()), "{early:?}");
    assert_eq!(clip_of(late_body), vec![early.clone(), early], "a body reported after its face shares its clip");

    // Stored: three clips; the first shared one closed once the face ended (not its body), so its video
    // reaches the face's post-roll, and its box paths hold both tracks.
    let stored = queued(&mut pieces);
    let folders: std::collections::BTreeSet<&str> =
        stored.iter().filter_map(|p| p.key.strip_suffix("/init.mp4")).collect();
    assert_eq!(folders.len(), 3, "{folders:?}");
    let of_shared: Vec<_> = stored.iter().filter(|p| p.key.starts_with(&format!("{}/", shared.key))).collect();
    let paths = of_shared.iter().find(|p| p.key.ends_with("/boxes.json")).expect("the box paths");
    let paths: serde_json::Value = serde_json::from_slice(&paths.bytes).unwrap();
    for (track, from, to) in [(body, 3_000.0, 4_000.0), (face, 3_200.0, 5_000.0)] {
        let boxes = paths["tracks"][track.to_string()].as_array().unwrap_or_else(|| panic!("{track}: {paths}"));
        let times: Vec<f64> = boxes.iter().map(|b| b[0].as_f64().unwrap() + shared.start_ms as f64).collect();
        assert!(times.len() >= 4 && times.iter().all(|t| (from..=to).contains(t)), "{track}: {times:?}");
    }
    // The complete clip: its init segment (stored again last, with its length), then its segments.
    let init = of_shared.iter().rev().find(|p| p.key.ends_with("/init.mp4")).expect("an init segment");
    let segments = of_shared.iter().filter(|p| p.key.ends_with(".m4s"));
    let bytes: Vec<u8> = std::iter::once(init).chain(segments).flat_map(|p| p.bytes.iter().copied()).collect();
    let clip_path = dir.join("shared.mp4");
    std::fs::write(&clip_path, &bytes).unwrap();
    let (frames, _) = sightline_ingest::testmedia::decode_mp4(&clip_path, &[]).unwrap();
    let last = frames.last().map(|f| f.pts_ms + shared.start_ms);
    assert!(last >= Some(7_900), "to the face's post-roll (5.0 + 3 s), past its body's (7.0 s): {last:?}");
    let _ = std::fs::remove_dir_all(dir);
}
