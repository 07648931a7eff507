//! The `sightline-ingest` service as a process, on real PostgreSQL and the real broker: a stream
//! created over the API starts without a restart, its state is visible, its detections reach Kafka,
//! and SIGTERM stops the service cleanly.

mod common;

use common::{cast, encode_cast_video, face_detector, fresh_database, kafka, models_dir, request};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::{Value, json};
use sightline_common::kafka::TopicSpec;
use sightline_schemas::v1::{DetectionEvent, ObjectKind};
use sqlx::Executor;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_added_over_the_api_is_analysed_without_restart() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-service-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let (mut admin, database, url, pool) = fresh_database("test_service", &[("ops-secret", "operator")]).await?;
    let kafka = kafka();
    let topic = format!("test.{database}.detections");
    sightline_common::kafka::ensure_topics(
        &kafka,
        &[TopicSpec { name: topic.clone(), partitions: 3, replication: 1, retention_ms: -1 }],
    )
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut service = Command::new(env!("CARGO_BIN_EXE_sightline-ingest"))
        .env("SIGHTLINE_INGEST__POSTGRES_URL", &url)
        .env("SIGHTLINE_INGEST__TOPIC", &topic)
        .env("SIGHTLINE_INGEST__KAFKA__BROKERS", &kafka.brokers)
        .env("SIGHTLINE_INGEST__MODELS_DIR", models_dir())
        .env("SIGHTLINE_INGEST__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let call = move |method: &'static str, path: String, body: Option<Value>| {
        tokio::task::spawn_blocking(move || {
            request(port, method, &path, Some("ops-secret"), body.map(|b| b.to_string()).as_deref())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the service did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let stream =
        json!({"name": "Entrance", "source_url": video.display().to_string(), "site": "hq", "analysis_fps": 5});
    let (status, created) = call("POST", "/v1/streams".into(), Some(stream)).await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    // The supervisor picks it up from the change notification and the state shows its progress.
    let mut phases = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, view) = call("GET", format!("/v1/streams/{id}"), None).await?;
        let phase = view["state"]["phase"].as_str().unwrap_or_default().to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase.clone());
        }
        if phase == "finished" {
            assert!(view["state"]["frames"].as_u64().is_some_and(|f| f >= 35), "{view}");
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "stream never finished: {phases:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(phases.iter().any(|p| p == "running" || p == "starting"), "{phases:?}");

    let mut config = kafka.client_config();
    config.set("group.id", format!("{database}-reader")).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&topic])?;
    let mut faces = 0;
    while let Ok(message) =
        tokio::time::timeout(Duration::from_secs(if faces == 0 { 30 } else { 3 }), consumer.recv()).await
    {
        let message = message?;
        assert_eq!(message.key(), Some(id.as_bytes()), "keyed by the stream id");
        let event = DetectionEvent::decode(message.payload().unwrap_or_default())?;
        assert_eq!((event.stream_id.as_str(), event.site.as_str()), (id.as_str(), "hq"));
        faces += usize::from(event.kind == ObjectKind::Face as i32);
    }
    assert_eq!(faces, people.len(), "one face event per person");

    let _ = Command::new("kill").arg("-TERM").arg(service.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = service.try_wait()? {
            break status;
        }
        anyhow::ensure!(Instant::now() < deadline, "the service did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");
    pool.close().await;
    admin.execute(format!("DROP DATABASE {database} WITH (FORCE)").as_str()).await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
