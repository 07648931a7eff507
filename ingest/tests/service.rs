//! The `sightline-ingest` service as a process, on real PostgreSQL and the real broker: a stream
//! created over the API starts without a restart, its state and metrics are visible, its detections
//! reach Kafka; a region of interest set over the API applies at once and keeps only the detections
//! centred inside it; a file is stamped on its own timeline from the start the stream declares, and
//! once analysed to its end it is not analysed again by a restarted service until an operator asks;
//! a stream whose URL the source policy refuses, written to the table behind the API's back, is not
//! opened and shows why; SIGTERM stops the service cleanly. Two instances on one database share the
//! streams, each shows every stream with its owner and state, fetches a frame from the instance
//! running it, and takes over the streams of one that stops. Three instances over nine cameras, one
//! joining late and one SIGKILLed: read back from the detections topic, no camera is ever reported by
//! two instances at once, and the dead one's cameras are leased again within its lease.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{cast, encode_cast_video, face_detector, free_port, fresh_database, models_dir, request};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::{Value, json};
use sightline_common::kafka::TopicSpec;
use sightline_schemas::v1::{DetectionEvent, ObjectKind};
use sightline_testkit::stack::kafka;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_added_over_the_api_is_analysed_without_restart() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-service-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let database = fresh_database("test_service", &[("ops-secret", "operator"), ("admin-secret", "admin")]).await?;
    let kafka = kafka();
    let topic = format!("test.{}.detections", database.name);
    sightline_common::kafka::ensure_topics(
        &kafka,
        &[TopicSpec { name: topic.clone(), partitions: 3, replication: 1, retention_ms: -1 }],
    )
    .await?;
    let (port, metrics_port) = (free_port(), free_port());
    let start_service = || {
        Command::new(env!("CARGO_BIN_EXE_sightline-ingest"))
            .env("SIGHTLINE_INGEST__POSTGRES_URL", &database.url)
            .env("SIGHTLINE_INGEST__TOPIC", &topic)
            .env("SIGHTLINE_INGEST__KAFKA__BROKERS", &kafka.brokers)
            .env("SIGHTLINE_INGEST__MODELS_DIR", models_dir())
            .env("SIGHTLINE_INGEST__HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SIGHTLINE_INGEST__METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            // The stream is a local file: an operator's choice, off by default.
            .env("SIGHTLINE_INGEST__SOURCES__ALLOW_LOCAL_FILES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let service = start_service()?;
    let call = move |method: &'static str, path: String, body: Option<Value>| {
        tokio::task::spawn_blocking(move || {
            request(port, method, &path, Some("ops-secret"), body.map(|b| b.to_string()).as_deref())
        })
    };
    let listening = || async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "the service did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    };
    listening().await?;

    // A recording whose first frame was taken at a declared time: capture times follow the file.
    let media_start_ms: i64 = 1_790_000_000_000;
    let stream = json!({"name": "Entrance", "source_url": video.display().to_string(), "site": "hq",
        "analysis_fps": 5, "media_start_ms": media_start_ms});
    let (status, created) = call("POST", "/v1/streams".into(), Some(stream.clone())).await?;
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
    config.set("group.id", format!("{}-reader", database.name)).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&topic])?;
    let faces = read_events(&consumer, &id).await?;
    let face_tracks: BTreeSet<&str> =
        faces.iter().filter(|e| e.kind == ObjectKind::Face as i32).map(|e| e.track_id.as_str()).collect();
    assert_eq!(face_tracks.len(), people.len(), "one face track per person");
    let ended = faces.iter().filter(|e| e.kind == ObjectKind::Face as i32 && e.track_ended).count();
    assert_eq!(ended, people.len(), "each face track ends once");
    let timeline = media_start_ms..=media_start_ms + common::VIDEO.duration_ms;
    for event in &faces {
        assert!(
            timeline.contains(&event.first_seen_ms) && timeline.contains(&event.last_seen_ms),
            "{}..{} on the file's timeline from {media_start_ms}",
            event.first_seen_ms,
            event.last_seen_ms
        );
    }

    let (status, metrics) =
        tokio::task::spawn_blocking(move || request(metrics_port, "GET", "/metrics", None, None)).await?;
    assert_eq!(status, 200);
    let analysed = metric(
        metrics.as_str().unwrap_or_default(),
        &format!("sightline_ingest_frames_analysed_total{{stream=\"{id}\"}}"),
    );
    assert!(analysed.is_some_and(|n| n >= 35.0), "frames analysed in /metrics: {metrics}");

    // The region of interest: the upper right of the frame, where only the astronaut walks (the other
    // two stay in the left part or the lower half; see `standard_cast`). Updating the stream restarts
    // it, and the file plays again.
    let roi = json!({"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.5});
    let mut with_roi = stream.clone();
    with_roi["roi"] = roi.clone();
    let (status, updated) = call("PUT", format!("/v1/streams/{id}"), Some(with_roi)).await?;
    assert_eq!(status, 200, "{updated}");
    let events = read_events(&consumer, &id).await?;
    let in_roi_faces: BTreeSet<&str> =
        events.iter().filter(|e| e.kind == ObjectKind::Face as i32).map(|e| e.track_id.as_str()).collect();
    assert_eq!(in_roi_faces.len(), 1, "only the astronaut's face is in the region: {in_roi_faces:?}");
    for event in &events {
        let bbox = event.bbox.expect("box");
        let (cx, cy) = (
            (bbox.x + bbox.width / 2.0) / event.frame_width as f32,
            (bbox.y + bbox.height / 2.0) / event.frame_height as f32,
        );
        assert!((0.7..=1.0).contains(&cx) && (0.0..=0.5).contains(&cy), "{:?} centred at {cx},{cy}", event.kind);
    }

    // A stream the API would refuse (devices are off by default), written to the table directly:
    // the supervisor does not open it either, and says why.
    let (device_id,): (uuid::Uuid,) = sqlx::query_as(
        "INSERT INTO streams (name, source_url, site) VALUES ('Desk camera', 'v4l2:///dev/video0', 'hq') RETURNING id",
    )
    .fetch_one(&database.pool)
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let (_, view) = tokio::task::spawn_blocking(move || {
            request(port, "GET", &format!("/v1/streams/{device_id}"), Some("admin-secret"), None)
        })
        .await?;
        if view["state"]["phase"] == "failed" {
            break view;
        }
        anyhow::ensure!(Instant::now() < deadline, "the refused stream never showed as failed: {view}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = refused["state"]["last_error"].as_str().unwrap_or_default();
    assert!(reason.contains("devices are not allowed here (sources.allow_devices)"), "{refused}");
    assert_eq!(refused["state"]["frames"], 0, "{refused}");

    // The file was analysed to its end (after the change): a restarted service does not analyse it
    // again, until an operator asks.
    let finished = |view: &Value| view["state"]["phase"] == "finished" && view["finished_ms"].as_i64().is_some();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !finished(&call("GET", format!("/v1/streams/{id}"), None).await?.1) {
        anyhow::ensure!(Instant::now() < deadline, "the file's end was not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await.is_ok() {} // the last run's tail
    let stop = |mut service: std::process::Child| {
        tokio::task::spawn_blocking(move || {
            let exit = sightline_testkit::stack::terminate(&mut service, Duration::from_secs(30));
            let _ = service.kill();
            exit
        })
    };
    let exit = stop(service).await??.ok_or_else(|| anyhow::anyhow!("the service did not stop on SIGTERM"))?;
    assert!(exit.success(), "clean exit: {exit:?}");
    let service = start_service()?;
    listening().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, view) = call("GET", format!("/v1/streams/{id}"), None).await?;
    assert!(finished(&view), "a finished file stays finished after a restart: {view}");
    let replayed = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await;
    assert!(replayed.is_err(), "no new events from a finished file");
    let (status, restarted) = call("POST", format!("/v1/streams/{id}/restart"), None).await?;
    assert_eq!(status, 202, "{restarted}");
    let again = read_events(&consumer, &id).await?;
    assert!(!again.is_empty(), "restarted on request, the file is analysed again");
    let exit = stop(service).await??.ok_or_else(|| anyhow::anyhow!("the service did not stop on SIGTERM"))?;
    assert!(exit.success(), "clean exit: {exit:?}");
    database.remove().await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// The stream's events from `consumer` until none came for 6 s (at least one expected within 60 s).
async fn read_events(consumer: &StreamConsumer, stream_id: &str) -> anyhow::Result<Vec<DetectionEvent>> {
    let mut events = Vec::new();
    while let Ok(message) =
        tokio::time::timeout(Duration::from_secs(if events.is_empty() { 60 } else { 6 }), consumer.recv()).await
    {
        let message = message?;
        assert_eq!(message.key(), Some(stream_id.as_bytes()), "keyed by the stream id");
        let event = DetectionEvent::decode(message.payload().unwrap_or_default())?;
        assert_eq!((event.stream_id.as_str(), event.site.as_str()), (stream_id, "hq"));
        events.push(event);
    }
    anyhow::ensure!(!events.is_empty(), "no events for stream {stream_id}");
    Ok(events)
}

/// The value of the sample `series` (name with labels) in a Prometheus text exposition.
fn metric(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Starts `sightline-ingest` as instance `name` on `database`, its API on `port`, its metrics on
/// `metrics_port`.
fn start_instance(
    name: &str,
    database: &sightline_testkit::stack::TestDatabase,
    topic: &str,
    (port, metrics_port): (u16, u16),
) -> std::io::Result<std::process::Child> {
    Command::new(env!("CARGO_BIN_EXE_sightline-ingest"))
        .env("SIGHTLINE_INGEST__POSTGRES_URL", &database.url)
        .env("SIGHTLINE_INGEST__TOPIC", topic)
        .env("SIGHTLINE_INGEST__KAFKA__BROKERS", kafka().brokers)
        .env("SIGHTLINE_INGEST__MODELS_DIR", models_dir())
        .env("SIGHTLINE_INGEST__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SIGHTLINE_INGEST__METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("SIGHTLINE_INGEST__SOURCES__ALLOW_LOCAL_FILES", "true")
        .env("SIGHTLINE_INGEST__OWNERSHIP__INSTANCE", name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The id of the stream `name` in a `GET /v1/streams` answer.
fn id_named(list: &Value, name: &str) -> String {
    let stream = list.as_array().expect("a list").iter().find(|s| s["name"] == name).expect("the stream");
    stream["id"].as_str().expect("an id").to_owned()
}

/// `GET /v1/streams/{id}/snapshot` of the instance on `port`, with `headers`.
async fn snapshot(
    port: u16,
    id: &str,
    headers: &[(&'static str, &'static str)],
) -> anyhow::Result<sightline_testkit::stack::HttpResponse> {
    let (path, headers) = (format!("/v1/streams/{id}/snapshot"), headers.to_vec());
    tokio::task::spawn_blocking(move || {
        sightline_testkit::stack::http_exchange_with(port, "GET", &path, &headers, "", b"")
    })
    .await?
}

/// An HTTP server posing as a stream's owner: it records each request and answers the first with
/// an HTML page and the second with a JPEG, both setting a cookie.
struct ForgedOwner {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ForgedOwner {
    fn start() -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            let answers: [(&str, &[u8]); 2] = [
                ("text/html", b"<script>steal()</script>"),
                ("image/jpeg", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0xFF, 0xD9]),
            ];
            for (content_type, body) in answers {
                let Ok((mut connection, _)) = listener.accept() else { return };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match connection.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                record.lock().unwrap().push(String::from_utf8_lossy(&request).into_owned());
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nSet-Cookie: sightline_session=forged; Path=/\r\n\
                     X-Capture-Ms: 1700000000000\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = connection.write_all(head.as_bytes());
                let _ = connection.write_all(body);
            }
        });
        Self { port, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Each stream's owner and phase as instance `port`'s API shows them, by stream name.
fn owners(port: u16) -> std::collections::BTreeMap<String, (String, String)> {
    let (status, streams) = request(port, "GET", "/v1/streams", Some("ops-secret"), None);
    assert_eq!(status, 200, "{streams}");
    streams
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (field(&s["name"]), (field(&s["owner"]), field(&s["state"]["phase"])))
        })
        .collect()
}

/// A detections topic of `database`'s own (one partition).
async fn detections_topic(database: &sightline_testkit::stack::TestDatabase) -> anyhow::Result<String> {
    let topic = format!("test.{}.detections", database.name);
    sightline_common::kafka::ensure_topics(
        &kafka(),
        &[TopicSpec { name: topic.clone(), partitions: 1, replication: 1, retention_ms: -1 }],
    )
    .await?;
    Ok(topic)
}

/// Waits up to 30 s for an instance to listen on `port`.
async fn until_listening(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "an instance did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits up to `timeout` for `done` to hold of the owners instance `port` shows.
async fn until_owners(
    port: u16,
    timeout: Duration,
    what: &str,
    done: impl Fn(&std::collections::BTreeMap<String, (String, String)>) -> bool,
) -> anyhow::Result<std::collections::BTreeMap<String, (String, String)>> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = tokio::task::spawn_blocking(move || owners(port)).await?;
        if done(&seen) {
            return Ok(seen);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_streams_and_take_over_a_stopped_ones() -> anyhow::Result<()> {
    let mut detector = face_detector();
    let people = cast(&mut detector);
    let dir = std::env::temp_dir().join(format!("sightline-instances-{}", std::process::id()));
    let video = encode_cast_video(&people, &dir);
    let database = fresh_database("test_instances", &[("ops-secret", "operator"), ("viewer-secret", "viewer")]).await?;
    let topic = detections_topic(&database).await?;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start_instance("ingest-a", &database, &topic, (port_a, free_port()))?;
    until_listening(port_a).await?;

    // Four streams: the video file, and three cameras nobody answers for (they keep reconnecting).
    let mut streams = vec![
        json!({"name": "file", "source_url": video.display().to_string(), "analysis_fps": 5, "blur_faces_for_viewers": true}),
    ];
    for n in 1..=3 {
        streams.push(json!({"name": format!("camera {n}"), "source_url": format!("rtsp://127.0.0.1:9/camera-{n}")}));
    }
    for stream in streams {
        let (status, created) = tokio::task::spawn_blocking(move || {
            request(port_a, "POST", "/v1/streams", Some("ops-secret"), Some(&stream.to_string()))
        })
        .await?;
        assert_eq!(status, 201, "{created}");
    }

    // Alone, A runs them all.
    until_owners(port_a, Duration::from_secs(30), "A runs every stream", |seen| {
        seen.len() == 4 && seen.values().all(|(owner, phase)| owner == "ingest-a" && phase != "pending")
    })
    .await?;

    // B joins: A gives back what is beyond its share and B takes it. Two each; either instance's API
    // shows every stream with its owner and the state its owner runs it in (not "pending": the other
    // instance wrote it).
    let mut b = start_instance("ingest-b", &database, &topic, (port_b, free_port()))?;
    until_listening(port_b).await?;
    let shared = until_owners(port_a, Duration::from_secs(40), "two streams each, all running", |seen| {
        let of = |name: &str| seen.values().filter(|(owner, _)| owner == name).count();
        of("ingest-a") == 2
            && of("ingest-b") == 2
            && seen.values().all(|(_, phase)| ["reconnecting", "finished"].contains(&phase.as_str()))
    })
    .await?;
    let seen_by_b = tokio::task::spawn_blocking(move || owners(port_b)).await?;
    let owner_of = |seen: &std::collections::BTreeMap<String, (String, String)>, name: &str| seen[name].0.clone();
    assert_eq!(owner_of(&seen_by_b, "camera 1"), owner_of(&shared, "camera 1"), "{seen_by_b:?} and {shared:?}");

    // The file's last frame, asked of the instance that does not run it, comes from the one that does.
    let file_owner = owner_of(&shared, "file");
    let other_port = if file_owner == "ingest-a" { port_b } else { port_a };
    let (_, list) =
        tokio::task::spawn_blocking(move || request(other_port, "GET", "/v1/streams", Some("ops-secret"), None))
            .await?;
    let file_id = id_named(&list, "file");
    // Frames live in the memory of the instance that analysed them: a file that finished before it
    // changed hands has none on its new owner. Played again, its owner has one.
    let restart_path = format!("/v1/streams/{file_id}/restart");
    let (status, restarted) =
        tokio::task::spawn_blocking(move || request(other_port, "POST", &restart_path, Some("ops-secret"), None))
            .await?;
    assert_eq!(status, 202, "{restarted}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let frame = loop {
        let frame = snapshot(other_port, &file_id, &[("Authorization", "Bearer ops-secret")]).await?;
        if frame.status != 404 || Instant::now() > deadline {
            break frame;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(frame.status, 200, "{}", String::from_utf8_lossy(&frame.body));
    assert_eq!(frame.header("content-type"), Some("image/jpeg"));
    assert!(frame.body.starts_with(&[0xFF, 0xD8]), "a JPEG");
    // A viewer asking there gets the owner's blurred copy.
    let frame_path = format!("/v1/streams/{file_id}/frame");
    let (status, blurred) =
        tokio::task::spawn_blocking(move || request(other_port, "GET", &frame_path, Some("viewer-secret"), None))
            .await?;
    assert_eq!((status, &blurred["faces_blurred"]), (200, &json!(true)), "{blurred}");
    // The owner takes only a ticket an instance issued for that stream.
    let owner_port = if other_port == port_a { port_b } else { port_a };
    let forged_ticket = snapshot(owner_port, &file_id, &[("X-Sightline-Peer-Ticket", "tk_never_issued")]).await?;
    assert_eq!(forged_ticket.status, 401, "a peer ticket nobody issued is refused");

    // A lease that names another address (a forged row, or a compromised instance): the caller's
    // token and cookie never go there, and what comes back reaches the caller only as a JPEG.
    let camera_1 = id_named(&list, "camera 1");
    let forger = ForgedOwner::start();
    sqlx::query(
        "UPDATE stream_leases SET instance = 'ingest-forged', api_url = $2, expires_at = now() + interval '1 hour' \
         WHERE stream_id = $1::uuid",
    )
    .bind(&camera_1)
    .bind(format!("http://127.0.0.1:{}", forger.port))
    .execute(&database.pool)
    .await?;
    let credentials = [("Authorization", "Bearer ops-secret"), ("Cookie", "sightline_session=ss_secret")];
    let html = snapshot(port_a, &camera_1, &credentials).await?;
    assert_eq!(html.status, 502, "an answer that is not a JPEG is not passed on");
    assert_eq!(html.header("set-cookie"), None, "{}", html.headers);
    assert!(!String::from_utf8_lossy(&html.body).contains("<script>"));
    let jpeg = snapshot(port_a, &camera_1, &credentials).await?;
    assert_eq!((jpeg.status, jpeg.header("content-type")), (200, Some("image/jpeg")), "{}", jpeg.headers);
    assert_eq!(jpeg.header("set-cookie"), None, "only the JPEG and its capture time: {}", jpeg.headers);
    assert_eq!(jpeg.header("x-capture-ms"), Some("1700000000000"));
    let seen = forger.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        let lower = request.to_lowercase();
        assert!(!lower.contains("ops-secret") && !lower.contains("ss_secret"), "no caller credential: {request}");
        assert!(lower.contains("x-sightline-peer-ticket: tk_"), "the instance's own ticket: {request}");
    }
    sqlx::query("DELETE FROM stream_leases WHERE stream_id = $1::uuid").bind(&camera_1).execute(&database.pool).await?;

    // B stops: it gives its streams back, and A takes them all at its next renewal.
    let status =
        tokio::task::spawn_blocking(move || sightline_testkit::stack::terminate(&mut b, Duration::from_secs(30)))
            .await??
            .ok_or_else(|| anyhow::anyhow!("ingest-b did not stop on SIGTERM"))?;
    assert!(status.success(), "ingest-b stopped cleanly: {status}");
    until_owners(port_a, Duration::from_secs(15), "A runs every stream", |seen| {
        seen.values().all(|(owner, phase)| owner == "ingest-a" && phase != "pending")
    })
    .await?;
    a.kill()?;
    a.wait()?;
    database.remove().await
}

/// A live view of stream `id` asked of the instance on `port` with `token`: its answer's parts.
struct LiveView {
    status: u16,
    body: axum::body::BodyDataStream,
    reader: sightline_ingest::live::PartReader,
}

impl LiveView {
    async fn open(port: u16, id: &str, token: &str) -> anyhow::Result<Self> {
        let request = axum::http::Request::get(format!("http://127.0.0.1:{port}/v1/streams/{id}/live"))
            .header("Authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())?;
        let answer = sightline_ingest::api::peer_client().request(request).await?;
        let status = answer.status().as_u16();
        if status == 200 {
            assert_eq!(answer.headers()["content-type"], sightline_ingest::live::CONTENT_TYPE);
        }
        let body = axum::body::Body::new(answer.into_body()).into_data_stream();
        Ok(Self { status, body, reader: Default::default() })
    }

    /// The next `n` frames, within 20 s.
    async fn frames(&mut self, n: usize) -> anyhow::Result<Vec<sightline_ingest::live::LiveFrame>> {
        use futures::StreamExt as _;
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while frames.len() < n {
            if let Some(frame) = self.reader.next_frame().map_err(anyhow::Error::msg)? {
                frames.push(frame);
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .map_err(|_| anyhow::anyhow!("{} of {n} frames in 20 s", frames.len()))?
                .ok_or_else(|| anyhow::anyhow!("the live view ended after {} frames", frames.len()))??;
            self.reader.push(&chunk);
        }
        Ok(frames)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_view_shows_many_viewers_the_analysed_frames_over_one_camera_connection() -> anyhow::Result<()> {
    // A camera playing 30 s of people, and two instances sharing the streams.
    let (video, _) = sightline_testkit::pipeline::long_test_video(30)?;
    let mut camera = sightline_testkit::pipeline::RtspVideo::serve(&video)?;
    let plays = camera.plays();
    let database = fresh_database("test_live", &[("ops-secret", "operator"), ("viewer-secret", "viewer")]).await?;
    let topic = detections_topic(&database).await?;
    let ports = [(free_port(), free_port()), (free_port(), free_port())];
    let mut instances = Vec::new();
    for (name, ports) in ["ingest-a", "ingest-b"].into_iter().zip(ports) {
        instances.push(start_instance(name, &database, &topic, ports)?);
        until_listening(ports.0).await?;
    }
    let stream = json!({"name": "door", "source_url": camera.url, "analysis_fps": 5});
    let port_a = ports[0].0;
    let (status, created) = tokio::task::spawn_blocking(move || {
        request(port_a, "POST", "/v1/streams", Some("ops-secret"), Some(&stream.to_string()))
    })
    .await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let seen = until_owners(port_a, Duration::from_secs(30), "the camera runs", |seen| {
        seen.get("door").is_some_and(|(owner, phase)| !owner.is_empty() && phase == "running")
    })
    .await?;
    let owner = if seen["door"].0 == "ingest-a" { 0 } else { 1 };
    let ((owner_port, owner_metrics), (other_port, other_metrics)) = (ports[owner], ports[1 - owner]);

    // Two people watch on the instance running the camera, two on the other one.
    let mut views = Vec::new();
    for port in [owner_port, owner_port, other_port, other_port] {
        let view = LiveView::open(port, &id, "ops-secret").await?;
        assert_eq!(view.status, 200);
        views.push(view);
    }
    let mut seen_by = Vec::new();
    for view in &mut views {
        seen_by.push(view.frames(3).await?);
    }
    // The owner serves its two viewers and the other instance's one relay; the camera has one
    // connection, the stream's own.
    let gauge = |port: u16, series: &'static str| async move {
        let exposition = tokio::task::spawn_blocking(move || {
            sightline_testkit::stack::http_exchange(port, "GET", "/metrics", None, "", b"")
        })
        .await??;
        Ok::<_, anyhow::Error>(metric(&String::from_utf8_lossy(&exposition.body), series))
    };
    assert_eq!(gauge(owner_metrics, "sightline_ingest_live_viewers").await?, Some(3.0));
    assert_eq!(gauge(other_metrics, "sightline_ingest_live_viewers").await?, Some(2.0));
    assert_eq!(gauge(other_metrics, "sightline_ingest_live_relays").await?, Some(1.0));
    for (view, seen) in views.iter_mut().zip(&mut seen_by) {
        seen.extend(view.frames(7).await?);
    }
    assert_eq!(plays.lock().map(|p| p.len()).unwrap_or_default(), 1, "one connection to the camera");

    // Every viewer sees the analysed frames in order, each a JPEG with its boxes, at the analysis
    // rate (5 a second), not the snapshots' one a second; the other instance's viewers see the
    // very frames the owner analysed.
    let owner_times: BTreeSet<i64> = seen_by[..2].iter().flatten().map(|f| f.facts.capture_ms).collect();
    for (n, frames) in seen_by.iter().enumerate() {
        let times: Vec<i64> = frames.iter().map(|f| f.facts.capture_ms).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "viewer {n}: frames in order: {times:?}");
        assert!(
            frames.iter().all(|f| f.jpeg.starts_with(&[0xFF, 0xD8]) && f.facts.width > 0 && !f.facts.faces_blurred)
        );
        let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        assert!(gaps[gaps.len() / 2] <= 400, "viewer {n}: frames at the analysis rate: {times:?}");
        if n >= 2 {
            let relayed: BTreeSet<i64> = times.iter().copied().collect();
            let shared = relayed.intersection(&owner_times).count();
            assert!(shared >= 3, "viewer {n} sees the owner's frames: {times:?} and {owner_times:?}");
        }
    }
    assert!(
        seen_by.iter().flatten().any(|f| f.facts.boxes.iter().any(|b| b.kind == "face")),
        "the people's faces are boxed"
    );

    // A viewer may not see this camera's faces, nor ask for a rate it cannot have.
    assert_eq!(LiveView::open(other_port, &id, "viewer-secret").await?.status, 403);
    let (status, refused) = tokio::task::spawn_blocking(move || {
        request(port_a, "GET", &format!("/v1/streams/{id}/live?fps=0"), Some("ops-secret"), None)
    })
    .await?;
    assert_eq!(status, 400, "{refused}");

    // When everyone leaves, the relay closes and nothing is rendered for nobody.
    drop(views);
    let deadline = Instant::now() + Duration::from_secs(10);
    while gauge(other_metrics, "sightline_ingest_live_relays").await? != Some(0.0)
        || gauge(owner_metrics, "sightline_ingest_live_viewers").await? != Some(0.0)
    {
        anyhow::ensure!(Instant::now() < deadline, "the relay and the views did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for mut instance in instances {
        instance.kill()?;
        instance.wait()?;
    }
    database.remove().await
}

/// A record of the detections topic: which instance reported it (its `sightline-instance` header)
/// and what.
struct Reported {
    instance: String,
    event: DetectionEvent,
}

/// Every record of `topic` (one partition) in offset order, read until none came for 5 s.
async fn reported(topic: &str, group: &str) -> anyhow::Result<Vec<Reported>> {
    use rdkafka::message::Headers as _;
    let mut config = kafka().client_config();
    config.set("group.id", group).set("auto.offset.reset", "earliest").set("enable.auto.commit", "false");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let mut records = Vec::new();
    while let Ok(message) =
        tokio::time::timeout(Duration::from_secs(if records.is_empty() { 30 } else { 5 }), consumer.recv()).await
    {
        let message = message?;
        let instance = message
            .headers()
            .and_then(|headers| headers.iter().find(|h| h.key == sightline_ingest::events::INSTANCE_HEADER))
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default();
        records.push(Reported { instance, event: DetectionEvent::decode(message.payload().unwrap_or_default())? });
    }
    Ok(records)
}

/// A stream's records, one line per run of one instance: its tracks with their report times.
fn describe(records: &[&Reported]) -> String {
    runs(records)
        .iter()
        .map(|(instance, members)| {
            let tracks: BTreeSet<&str> = members.iter().map(|&m| &records[m].event.track_id[..8]).collect();
            let made = |pick: fn(i64, i64) -> i64| {
                members.iter().map(|&m| records[m].event.processing_time_ms).reduce(pick).unwrap_or_default()
            };
            format!(
                "\n  {instance}: {} reports {}..{} of tracks {tracks:?}",
                members.len(),
                made(i64::min),
                made(i64::max)
            )
        })
        .collect()
}

/// A stream's records cut where the reporting instance changes: (instance, its records).
fn runs(records: &[&Reported]) -> Vec<(String, Vec<usize>)> {
    let mut runs: Vec<(String, Vec<usize>)> = Vec::new();
    for (n, record) in records.iter().enumerate() {
        match runs.last_mut() {
            Some((instance, members)) if *instance == record.instance => members.push(n),
            _ => runs.push((record.instance.clone(), vec![n])),
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_cameras_over_three_instances_one_reporter_each_through_a_sigkill() -> anyhow::Result<()> {
    // Nine cameras, each playing the cast (back every 8 s) from its start to every client.
    let (video, _) = sightline_testkit::pipeline::long_test_video(30)?;
    let cameras: Vec<_> =
        (0..9).map(|_| sightline_testkit::pipeline::RtspVideo::serve(&video)).collect::<anyhow::Result<_>>()?;
    let database = fresh_database("test_nine", &[("ops-secret", "operator")]).await?;
    let topic = detections_topic(&database).await?;
    let names = ["ingest-1", "ingest-2", "ingest-3"];
    let ports: Vec<(u16, u16)> = names.iter().map(|_| (free_port(), free_port())).collect();
    // Two instances first: the cameras are shared five and four.
    let mut instances = Vec::new();
    for (name, ports) in names.iter().zip(&ports).take(2) {
        instances.push(start_instance(name, &database, &topic, *ports)?);
        until_listening(ports.0).await?;
    }
    let port = ports[0].0;
    for (n, camera) in cameras.iter().enumerate() {
        let stream = json!({"name": format!("camera {n}"), "source_url": camera.url, "site": "hq", "analysis_fps": 2});
        let (status, created) = tokio::task::spawn_blocking(move || {
            request(port, "POST", "/v1/streams", Some("ops-secret"), Some(&stream.to_string()))
        })
        .await?;
        assert_eq!(status, 201, "{created}");
    }
    let count = |seen: &std::collections::BTreeMap<String, (String, String)>, name: &str| {
        seen.values().filter(|(owner, _)| owner == name).count()
    };
    until_owners(port, Duration::from_secs(60), "five and four cameras, all running", |seen| {
        seen.len() == 9
            && [count(seen, "ingest-1"), count(seen, "ingest-2")].iter().max() == Some(&5)
            && count(seen, "ingest-1") + count(seen, "ingest-2") == 9
            && seen.values().all(|(_, phase)| phase == "running")
    })
    .await?;
    // Reports flow; a third instance joins, and each hands over what is beyond its share (stopped and
    // its last reports flushed before the lease is given back).
    tokio::time::sleep(Duration::from_secs(5)).await;
    instances.push(start_instance(names[2], &database, &topic, ports[2])?);
    let shared = until_owners(port, Duration::from_secs(60), "three cameras each, all running", |seen| {
        seen.len() == 9
            && names.iter().all(|name| count(seen, name) == 3)
            && seen.values().all(|(_, phase)| phase == "running")
    })
    .await?;

    // Reports flow; then ingest-2 dies without a word (SIGKILL) and its leases run out.
    tokio::time::sleep(Duration::from_secs(8)).await;
    instances[1].kill()?;
    let killed = Instant::now();
    let killed_ms = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis())?;
    instances[1].wait()?;
    let orphans: BTreeSet<String> =
        shared.iter().filter(|(_, (owner, _))| owner == "ingest-2").map(|(name, _)| name.clone()).collect();
    // When each of its streams is leased to another instance (PostgreSQL says so).
    let mut taken_after = std::collections::BTreeMap::new();
    while taken_after.len() < orphans.len() {
        anyhow::ensure!(killed.elapsed() < Duration::from_secs(30), "taken over after the kill: {taken_after:?}");
        let leases: Vec<(String, String)> = sqlx::query_as(
            "SELECT s.name, l.instance FROM stream_leases l JOIN streams s ON s.id = l.stream_id \
             WHERE l.instance <> 'ingest-2'",
        )
        .fetch_all(&database.pool)
        .await?;
        for (name, _) in leases.iter().filter(|(name, _)| orphans.contains(name)) {
            taken_after.entry(name.clone()).or_insert_with(|| killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ingest-2's streams leased again after the SIGKILL: {taken_after:?} (lease 9 s)");
    // The lease is 9 s from the last renewal, which came before the kill; the others look again as it
    // expires (a little after, as scheduling goes), not only at their next renewal up to 3 s later.
    let within = Duration::from_secs(9) + Duration::from_millis(900);
    assert!(taken_after.values().all(|after| *after <= within), "within the lease: {taken_after:?}");
    until_owners(port, Duration::from_secs(30), "the survivors run every camera", |seen| {
        seen.values().all(|(owner, phase)| owner != "ingest-2" && phase == "running")
    })
    .await?;
    let (_, list) =
        tokio::task::spawn_blocking(move || request(port, "GET", "/v1/streams", Some("ops-secret"), None)).await?;
    let orphan_ids: BTreeSet<String> = orphans.iter().map(|name| id_named(&list, name)).collect();
    // Reports flow from the new owners; then the survivors stop cleanly (their last reports flushed).
    tokio::time::sleep(Duration::from_secs(8)).await;
    for mut instance in [instances.remove(2), instances.remove(0)] {
        let status = tokio::task::spawn_blocking(move || {
            sightline_testkit::stack::terminate(&mut instance, Duration::from_secs(30))
        })
        .await??
        .ok_or_else(|| anyhow::anyhow!("an instance did not stop on SIGTERM"))?;
        assert!(status.success(), "stopped cleanly: {status}");
    }

    // Read back from the topic: each camera reported by one instance at a time.
    let records = reported(&topic, &format!("{}-reader", database.name)).await?;
    let mut by_stream: std::collections::BTreeMap<&str, Vec<&Reported>> = Default::default();
    for record in &records {
        by_stream.entry(record.event.stream_id.as_str()).or_default().push(record);
    }
    assert_eq!(by_stream.len(), 9, "every camera reported");
    let mut handovers = 0;
    let mut resumed_after = Vec::new();
    for (stream, records) in &by_stream {
        let described = || describe(records);
        assert!(
            records.iter().all(|r| names.contains(&r.instance.as_str())),
            "every record names its instance: {}",
            described()
        );
        let runs = runs(records);
        handovers += runs.len() - 1;
        // A track is reported by the instance that saw it, within one unbroken run of the stream's
        // records: two instances analysing one camera at once would interleave their tracks' reports.
        let mut run_of_track = std::collections::HashMap::new();
        for (n, (_, members)) in runs.iter().enumerate() {
            for &member in members {
                let track = records[member].event.track_id.as_str();
                assert_eq!(*run_of_track.entry(track).or_insert(n), n, "track {track} in two runs: {}", described());
            }
        }
        // And each run's reports were made after the previous run's last one.
        for pair in runs.windows(2) {
            let made = |n: usize| pair[n].1.iter().map(|&m| records[m].event.processing_time_ms);
            let (last, first) = (made(0).max(), made(1).min());
            assert!(first >= last, "{} reported before {} stopped: {}", pair[1].0, pair[0].0, described());
        }
        let late = records.iter().filter(|r| r.instance == "ingest-2" && r.event.processing_time_ms > killed_ms);
        assert_eq!(late.count(), 0, "nothing from the dead instance after its death: {}", described());
        if orphan_ids.contains(*stream) {
            let resumed = records.iter().find(|r| r.instance != "ingest-2" && r.event.processing_time_ms > killed_ms);
            let resumed = resumed.ok_or_else(|| anyhow::anyhow!("{stream} was not reported again: {}", described()))?;
            resumed_after.push(resumed.event.processing_time_ms - killed_ms);
        }
    }
    println!(
        "{} reports of 9 cameras, {handovers} handovers, each camera by one instance at a time; \
         ingest-2's cameras reported again {resumed_after:?} ms after its SIGKILL",
        records.len()
    );
    drop(cameras);
    database.remove().await
}
