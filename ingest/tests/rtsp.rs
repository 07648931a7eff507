//! The live path: a stream from a real RTSP server (gst-rtsp-server in its own process) survives the
//! server being killed and restarted: it goes to reconnecting with backoff, then resumes.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{free_port, serve_rtsp};
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
