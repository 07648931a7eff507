//! The live path: a stream from a real RTSP server (gst-rtsp-server in its own process) survives the
//! server being killed and restarted: it goes to reconnecting with backoff, then resumes. A camera
//! that cannot be opened says why in words, the same on every retry: nothing listening, a wrong or
//! missing password.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{free_port, serve_rtsp, serve_rtsp_with};
use sightline_ingest::source::{FrameSource, Phase, SourceSpec};
use std::time::{Duration, Instant};

fn wait_until(
    source: &FrameSource,
    timeout: Duration,
    what: &str,
    done: impl Fn(&sightline_ingest::source::StreamStatus) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let status = source.status();
        if done(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {status:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killing_and_restarting_the_server_reconnects_and_resumes() {
    let port = free_port();
    let mut server = serve_rtsp(port, None);
    let spec = SourceSpec {
        analysis_fps: 5,
        width: 320,
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        stall_timeout: Duration::from_secs(3),
        ..SourceSpec::new(format!("rtsp://127.0.0.1:{port}/live"))
    };
    let source = FrameSource::start(spec, |_| {}).expect("source starts");
    wait_until(&source, Duration::from_secs(30), "frames from the live stream", |s| {
        s.phase == Phase::Running && s.frames >= 5
    });

    server.kill();
    wait_until(&source, Duration::from_secs(20), "reconnecting after the server died", |s| {
        matches!(s.phase, Phase::Reconnecting { .. })
    });
    let during_outage = source.status();
    assert!(during_outage.last_error.is_some(), "{during_outage:?}");

    let mut server = serve_rtsp(port, None);
    let before = source.status().frames;
    wait_until(&source, Duration::from_secs(40), "frames again after the restart", |s| {
        s.phase == Phase::Running && s.frames >= before + 5
    });
    assert!(source.status().reconnects >= 1);
    source.stop();
    server.kill();
}

/// A stream of `url` that retries quickly.
fn quick(url: String) -> SourceSpec {
    SourceSpec {
        analysis_fps: 5,
        width: 320,
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(500),
        stall_timeout: Duration::from_secs(3),
        ..SourceSpec::new(url)
    }
}

#[test]
fn a_camera_that_cannot_be_opened_says_why_in_words_on_every_retry() {
    // Nothing listens on the port: refused, by host and port, the same sentence on each retry, and
    // "not running since" the first failure.
    let port = free_port();
    let source = FrameSource::start(quick(format!("rtsp://cam-user:s3cret@127.0.0.1:{port}/live")), |_| {})
        .expect("source starts");
    wait_until(&source, Duration::from_secs(30), "a first retry", |s| s.reconnects >= 1);
    let first = source.status();
    wait_until(&source, Duration::from_secs(30), "two more retries", |s| s.reconnects >= 3);
    let later = source.status();
    let refused = format!("connection refused by 127.0.0.1:{port} (nothing listens on that port)");
    assert_eq!(first.last_error.as_deref(), Some(refused.as_str()), "{first:?}");
    assert_eq!(later.last_error.as_deref(), Some(refused.as_str()), "the same words on every retry: {later:?}");
    assert_eq!(later.since_ms, first.since_ms, "reconnecting since the first failure");
    assert!(later.last_error_ms > first.last_error_ms && later.last_frame_ms.is_none(), "{later:?}");
    source.stop();

    // A camera asking for a password: a wrong one and none are told apart; the right one plays.
    let mut server = serve_rtsp_with(port, None, Some("cam-user:right-password"));
    for (url, said) in [
        (
            format!("rtsp://cam-user:wrong@127.0.0.1:{port}/live"),
            "the camera refused the user name and password in the URL",
        ),
        (format!("rtsp://127.0.0.1:{port}/live"), "the camera asks for a user name and password, and the URL has none"),
    ] {
        let source = FrameSource::start(quick(url), |_| {}).expect("source starts");
        wait_until(&source, Duration::from_secs(30), "a failed login", |s| s.reconnects >= 1);
        let status = source.status();
        let error = status.last_error.clone().unwrap_or_default();
        assert_eq!(error, format!("authentication failed: {said}"), "{status:?}");
        assert!(!error.contains("wrong") && !error.contains("rtspsrc"), "{error}");
        source.stop();
    }
    let before = sightline_common::clock::now_ms();
    let source = FrameSource::start(quick(format!("rtsp://cam-user:right-password@127.0.0.1:{port}/live")), |_| {})
        .expect("source starts");
    wait_until(&source, Duration::from_secs(30), "frames with the right password", |s| {
        s.phase == Phase::Running && s.frames >= 3
    });
    let status = source.status();
    assert!(status.since_ms >= before && status.last_frame_ms >= Some(status.since_ms), "running since: {status:?}");
    source.stop();
    server.kill();
}
