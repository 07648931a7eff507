//! Helpers shared by ingest's tests: the prepared models and images (`infra/models`), the test video.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use sightline_ingest::detect::{
    self, FaceDetector, FaceDetectorSettings, ModelFiles, PersonDetector, PersonDetectorSettings,
};
use sightline_ingest::frame::RgbFrame;
use sightline_ingest::testmedia::{Actor, STANDARD_VIDEO, VideoSpec, encode, standard_cast};
use sightline_testkit::stack::TestDatabase;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The models directory from `SIGHTLINE_MODELS_DIR` (set by `make test`); panics when absent.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var("SIGHTLINE_MODELS_DIR")
        .map(PathBuf::from)
        .expect("SIGHTLINE_MODELS_DIR is not set: run `make models` (make test does) and export its output");
    assert!(ModelFiles { dir: dir.clone() }.face_model().exists(), "no models in {}", dir.display());
    dir
}

/// A test image from the models directory as an RGB frame.
pub fn load(name: &str) -> RgbFrame {
    RgbFrame::open(&models_dir().join("images").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The face detector with default settings.
pub fn face_detector() -> FaceDetector {
    let files = ModelFiles { dir: models_dir() };
    let environment = detect::runtime(&files.runtime_library()).expect("onnx runtime loads");
    FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default()).expect("face model loads")
}

/// The person detector with default settings.
pub fn person_detector() -> PersonDetector {
    let files = ModelFiles { dir: models_dir() };
    let environment = detect::runtime(&files.runtime_library()).expect("onnx runtime loads");
    PersonDetector::new(&environment, &files.person_model(), PersonDetectorSettings::default())
        .expect("person model loads")
}

/// The test video's cast ([`standard_cast`]).
pub fn cast(detector: &mut FaceDetector) -> Vec<Actor> {
    standard_cast(detector, &models_dir().join("images")).expect("the standard cast")
}

/// The test video ([`STANDARD_VIDEO`]).
pub const VIDEO: VideoSpec = STANDARD_VIDEO;

/// Encodes the cast's video into `dir`; returns its path.
pub fn encode_cast_video(cast: &[Actor], dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let video = dir.join("people.mp4");
    encode(&VIDEO, cast, &video).expect("test video encodes");
    video
}

/// A fresh, migrated database (`sightline_testkit::stack::TestDatabase`) with the given
/// (token, role) pairs in `api_tokens`.
pub async fn fresh_database(prefix: &str, tokens: &[(&str, &str)]) -> anyhow::Result<TestDatabase> {
    let database = TestDatabase::create(prefix).await?;
    for (token, role) in tokens {
        sightline_common::auth::register(&database.pool, role, token, role.parse().map_err(anyhow::Error::msg)?)
            .await?;
    }
    Ok(database)
}

/// One HTTP/1.1 request with `Connection: close`: (status, the body as JSON, or as a JSON string
/// when it is not JSON, or Null when empty).
pub fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let payload = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let body = match serde_json::from_str(payload) {
        Ok(json) => json,
        Err(_) if payload.is_empty() => Value::Null,
        Err(_) => Value::String(payload.to_owned()),
    };
    (status, body)
}

/// A free TCP port on loopback (`sightline_testkit::stack::free_port`, for tests that panic).
pub fn free_port() -> u16 {
    sightline_testkit::stack::free_port().expect("a free port")
}

/// A running `sightline-rtsp-serve`, killed when dropped.
pub struct RtspServer(std::process::Child);

impl RtspServer {
    /// Kills the server (SIGKILL, as a crash would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `sightline-rtsp-serve` on `port` at `/live`: `file` (an H.264 mp4), or a live test pattern;
/// returns once it listens.
pub fn serve_rtsp(port: u16, file: Option<&Path>) -> RtspServer {
    serve_rtsp_with(port, file, None)
}

/// As [`serve_rtsp`], asking clients for `credentials` (`user:password`) when given.
pub fn serve_rtsp_with(port: u16, file: Option<&Path>, credentials: Option<&str>) -> RtspServer {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sightline-rtsp-serve"));
    command.args(["--port", &port.to_string(), "--mount", "/live"]);
    if let Some(file) = file {
        command.arg("--file").arg(file);
    }
    if let Some(credentials) = credentials {
        command.args(["--credentials", credentials]);
    }
    let server = RtspServer(
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rtsp server starts"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the rtsp server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}
