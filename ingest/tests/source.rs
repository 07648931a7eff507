//! GStreamer sources on real media: an H.264 mp4 encoded here by GStreamer, a corrupt file, and an
//! RTSP URL nobody serves.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use gstreamer as gst;
use gstreamer::prelude::*;
use sightline_ingest::source::{FrameSource, Phase, SourceFrame, SourceSpec};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sightline-source-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Encodes `seconds` of a moving test pattern, 640x360 at 30 fps, as H.264 in mp4.
fn encode_test_video(path: &Path, seconds: u32) {
    gst::init().expect("gstreamer");
    let description = format!(
        "videotestsrc num-buffers={} pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1,format=I420 ! \
         x264enc speed-preset=ultrafast ! mp4mux ! filesink location=\"{}\"",
        seconds * 30,
        path.display()
    );
    let pipeline = gst::parse::launch(&description).expect("encoder pipeline");
    pipeline.set_state(gst::State::Playing).expect("encoding starts");
    let bus = pipeline.bus().expect("bus");
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("encoding finishes");
    assert!(matches!(message.view(), gst::MessageView::Eos(_)), "encoding failed: {message:?}");
    pipeline.set_state(gst::State::Null).expect("stopped");
}

fn wait_for(source: &FrameSource, timeout: Duration, done: impl Fn(&Phase) -> bool) -> Phase {
    let deadline = Instant::now() + timeout;
    loop {
        let phase = source.status().phase;
        if done(&phase) || Instant::now() > deadline {
            return phase;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_file_is_decoded_at_the_analysis_rate_and_finishes() {
    let dir = scratch_dir("file");
    let video = dir.join("ball.mp4");
    encode_test_video(&video, 4);
    let frames = Arc::new(Mutex::new(Vec::new()));
    let spec = SourceSpec { analysis_fps: 5, width: 320, ..SourceSpec::new(video.display().to_string()) };
    let source = FrameSource::start(spec, {
        let frames = frames.clone();
        move |f: SourceFrame| {
            frames.lock().expect("lock").push((f.pts_ms, f.frame.width, f.frame.height, f.frame.data.len()))
        }
    })
    .expect("source starts");
    assert_eq!(wait_for(&source, Duration::from_secs(30), |p| *p == Phase::Finished), Phase::Finished);
    let frames = frames.lock().expect("lock").clone();
    // 4 s at 5 analysed fps: 20 frames (videorate may keep one more at the edges).
    assert!((19..=21).contains(&frames.len()), "{} frames", frames.len());
    assert!(frames.iter().all(|&(_, w, h, len)| (w, h, len) == (320, 180, 320 * 180 * 3)), "scaled to 320x180");
    assert!(frames.windows(2).all(|w| (w[1].0 - w[0].0 - 200).abs() <= 40), "200 ms apart: {frames:?}");
    let status = source.status();
    assert_eq!(status.frames, frames.len() as u64);
    assert_eq!(status.frames_dropped, 0);
    assert!(status.last_error.is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_corrupt_file_fails_with_its_error() {
    let dir = scratch_dir("corrupt");
    let video = dir.join("corrupt.mp4");
    std::fs::write(&video, (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .expect("write");
    let source = FrameSource::start(SourceSpec::new(video.display().to_string()), |_| {}).expect("source starts");
    assert_eq!(wait_for(&source, Duration::from_secs(20), |p| *p == Phase::Failed), Phase::Failed);
    let status = source.status();
    assert_eq!(status.frames, 0);
    let error = status.last_error.expect("an error is reported");
    assert!(!error.is_empty(), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unreachable_stream_backs_off_and_fails_while_others_keep_running() {
    let dir = scratch_dir("unreachable");
    let video = dir.join("ball.mp4");
    encode_test_video(&video, 6);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let dead = SourceSpec {
        initial_backoff: Duration::from_millis(200),
        max_attempts: 3,
        ..SourceSpec::new(format!("rtsp://127.0.0.1:{port}/nobody"))
    };
    let healthy_frames = Arc::new(Mutex::new(0u32));
    let healthy = FrameSource::start(SourceSpec { analysis_fps: 5, ..SourceSpec::new(video.display().to_string()) }, {
        let count = healthy_frames.clone();
        move |_| *count.lock().expect("lock") += 1
    })
    .expect("healthy source starts");
    let unreachable = FrameSource::start(dead, |_| {}).expect("dead source starts");

    let mut saw_reconnecting = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match unreachable.status().phase {
            Phase::Reconnecting { .. } => saw_reconnecting = true,
            Phase::Failed => break,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = unreachable.status();
    assert!(saw_reconnecting, "it backed off before giving up");
    assert_eq!(status.phase, Phase::Failed);
    assert_eq!(status.reconnects, 3);
    assert!(status.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{status:?}");
    assert_eq!(wait_for(&healthy, Duration::from_secs(30), |p| *p == Phase::Finished), Phase::Finished);
    assert!(*healthy_frames.lock().expect("lock") >= 25, "the healthy stream kept running");
    let _ = std::fs::remove_dir_all(dir);
}
