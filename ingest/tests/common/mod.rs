//! Helpers shared by ingest's tests: the prepared models and images (`infra/models`), the test video.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use sightline_ingest::detect::{
    self, FaceDetector, FaceDetectorSettings, ModelFiles, PersonDetector, PersonDetectorSettings,
};
use sightline_ingest::frame::RgbFrame;
use sightline_ingest::testmedia::{Actor, VideoSpec, cut_head, encode};
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
    let path = models_dir().join("images").join(name);
    let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    RgbFrame::new(image.width(), image.height(), image.into_raw()).expect("rgb frame")
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

/// The test video's cast: three people (heads cut from real photos) who enter, move and leave at
/// known times, on separate paths.
pub fn cast(detector: &mut FaceDetector) -> Vec<Actor> {
    let mut head =
        |name: &str, file: &str| cut_head(detector, name, &load(file), 0.4).unwrap_or_else(|e| panic!("{name}: {e}"));
    vec![
        Actor {
            head: head("obama", "obama.jpg"),
            enter_ms: 500,
            leave_ms: 4_500,
            from: (40.0, 60.0),
            to: (700.0, 80.0),
            size: 220.0,
        },
        Actor {
            head: head("biden", "biden.jpg"),
            enter_ms: 2_000,
            leave_ms: 6_500,
            from: (1000.0, 430.0),
            to: (300.0, 420.0),
            size: 230.0,
        },
        Actor {
            head: head("astronaut", "astronaut.png"),
            enter_ms: 4_000,
            leave_ms: 7_500,
            from: (900.0, 40.0),
            to: (1000.0, 200.0),
            size: 200.0,
        },
    ]
}

/// The test video: 8 s, 1280x720 at 15 fps.
pub const VIDEO: VideoSpec = VideoSpec { width: 1280, height: 720, fps: 15, duration_ms: 8_000 };

/// Encodes the cast's video into `dir`; returns its path.
pub fn encode_cast_video(cast: &[Actor], dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let video = dir.join("people.mp4");
    encode(&VIDEO, cast, &video).expect("test video encodes");
    video
}

/// PostgreSQL URL of the local stack.
pub fn postgres_url() -> String {
    std::env::var("SIGHTLINE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://sightline:sightline@localhost:5432/sightline".into())
}

/// A fresh, migrated database named `{prefix}_<random>` with the given (token, role) pairs in
/// `api_tokens`: (admin connection, database name, its URL, a pool on it).
pub async fn fresh_database(
    prefix: &str,
    tokens: &[(&str, &str)],
) -> anyhow::Result<(sqlx::PgConnection, String, String, sqlx::PgPool)> {
    use sha2::{Digest, Sha256};
    use sqlx::{Connection, Executor};
    let admin_url = postgres_url();
    let database = format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await?;
    let url = format!("{}/{database}", admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin_url));
    let pool = sightline_common::relational::migrate(&url).await?;
    for (token, role) in tokens {
        sqlx::query("INSERT INTO api_tokens (name, token_sha256, role) VALUES ($1, $2, $3)")
            .bind(role)
            .bind(Sha256::digest(token.as_bytes()).to_vec())
            .bind(role)
            .execute(&pool)
            .await?;
    }
    Ok((admin, database, url, pool))
}

/// One HTTP/1.1 request with `Connection: close`: (status, JSON body or Null).
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
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

/// Kafka settings of the local stack (`SIGHTLINE_KAFKA_BROKERS`).
pub fn kafka() -> sightline_common::kafka::KafkaSettings {
    sightline_common::kafka::KafkaSettings {
        brokers: std::env::var("SIGHTLINE_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        ..Default::default()
    }
}
