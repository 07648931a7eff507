//! `sightline-enrich` as a process on the real broker and PostgreSQL, with the real models.
//!
//! People are enrolled from one photo each (obama.jpg, biden.jpg); detections are made from *other*
//! photos (obama2.jpg, obama3.jpg) and of a stranger (astronaut.png), cropped and encoded the way
//! ingest does. The right person must match above the threshold, the stranger no one; a body passes
//! through with its reason; garbage goes to the dead-letter topic. Then the stranger is enrolled
//! while enrich runs, and a second second later the same face matches.

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sightline_common::kafka::TopicSpec;
use sightline_enrich::pipeline::enriched_event_id;
use sightline_enrich::watchlists::{self, IndexSpec, NewList, NewPerson};
use sightline_schemas::v1::{BoundingBox, DetectionEvent, EnrichedEvent, ObjectKind, Point};
use sightline_testkit::stack::{self, ServiceProcess};
use sightline_vision::align::align_face;
use sightline_vision::descriptor::{DESCRIPTOR_DIM, DescriptorSettings, FaceDescriptor, MODEL_NAME, MODEL_VERSION};
use sightline_vision::detect::{self, FaceDetection, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_vision::frame::RgbFrame;
use sqlx::{Connection, Executor};
use std::collections::HashMap;
use std::time::Duration;

fn files() -> ModelFiles {
    let dir = std::env::var("SIGHTLINE_MODELS_DIR").expect("SIGHTLINE_MODELS_DIR (run `make models`)");
    ModelFiles { dir: dir.into() }
}

fn photo(name: &str) -> RgbFrame {
    RgbFrame::open(&files().dir.join("images").join(name)).expect("photo")
}

/// The one face of `photo`.
fn face_of(detector: &mut FaceDetector, photo: &RgbFrame) -> FaceDetection {
    let faces = detector.detect(photo).expect("detects");
    assert_eq!(faces.len(), 1, "{faces:?}");
    faces.into_iter().next().expect("a face")
}

/// A detection event for the face in `photo`, cropped with a 25% margin like ingest's best shots.
fn detection(detector: &mut FaceDetector, photo: &RgbFrame, stream: &str) -> DetectionEvent {
    let face = face_of(detector, photo);
    let b = face.bbox;
    let left = (b.x - b.width * 0.25).floor().max(0.0) as u32;
    let top = (b.y - b.height * 0.25).floor().max(0.0) as u32;
    let right = ((b.x + b.width * 1.25).ceil() as u32).min(photo.width);
    let bottom = ((b.y + b.height * 1.25).ceil() as u32).min(photo.height);
    let (w, h) = (right - left, bottom - top);
    let mut crop = Vec::with_capacity((w * h * 3) as usize);
    for y in top..bottom {
        let start = ((y * photo.width + left) * 3) as usize;
        crop.extend_from_slice(&photo.data[start..start + (w * 3) as usize]);
    }
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&crop, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    DetectionEvent {
        schema_version: 1,
        event_id: uuid::Uuid::new_v4().to_string(),
        stream_id: stream.into(),
        site: "hq".into(),
        capture_time_ms: 1_795_000_000_000,
        processing_time_ms: 1_795_000_000_100,
        track_id: uuid::Uuid::new_v4().to_string(),
        kind: ObjectKind::Face as i32,
        bbox: Some(BoundingBox { x: b.x, y: b.y, width: b.width, height: b.height }),
        landmarks: face.landmarks.iter().map(|&(x, y)| Point { x, y }).collect(),
        detection_score: face.score,
        quality: 0.9,
        best_shot_jpeg: Some(jpeg),
        best_shot_origin: Some(Point { x: left as f32, y: top as f32 }),
        first_seen_ms: 1_794_999_999_000,
        last_seen_ms: 1_795_000_001_000,
        frame_count: 12,
        frame_width: photo.width,
        frame_height: photo.height,
        track_ended: true,
        parent_track_id: String::new(),
    }
}

/// The descriptor of the face in `photo`, as enrolment computes it.
fn descriptor(detector: &mut FaceDetector, describer: &mut FaceDescriptor, photo: &RgbFrame) -> Vec<f32> {
    let face = face_of(detector, photo);
    let aligned = align_face(photo, &face.landmarks).expect("aligned");
    describer.describe(&[&aligned]).expect("described").remove(0)
}

fn person(name: &str) -> NewPerson {
    NewPerson { external_id: format!("ext-{name}"), display_name: name.into(), metadata: serde_json::json!({}) }
}

async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) -> anyhow::Result<()> {
    producer
        .send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(30))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
    Ok(())
}

/// Enriched events from `consumer` by detection id, until `count` or a 60 s silence.
async fn read(consumer: &StreamConsumer, count: usize) -> anyhow::Result<HashMap<String, EnrichedEvent>> {
    let mut events = HashMap::new();
    while events.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .map_err(|_| anyhow::anyhow!("only {} of {count} enriched events", events.len()))??;
        let event = EnrichedEvent::decode(message.payload().unwrap_or_default())?;
        let detection = event.detection.clone().expect("the detection travels along");
        events.insert(detection.event_id, event);
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_match_their_enrolled_person_and_strangers_match_no_one() -> anyhow::Result<()> {
    // A fresh database and topics of our own.
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let database = format!("test_enrich_{tag}");
    let admin_url = stack::postgres_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await?;
    let url = format!("{}/{database}", admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base));
    let pool = sightline_common::relational::migrate(&url).await?;
    let kafka = stack::kafka();
    let (input, output, dlq) = (
        format!("test.enrich.{tag}.detections"),
        format!("test.enrich.{tag}.events"),
        format!("test.enrich.{tag}.dlq"),
    );
    let topics =
        [&input, &output, &dlq].map(|t| TopicSpec { name: t.clone(), partitions: 2, replication: 1, retention_ms: -1 });
    sightline_common::kafka::ensure_topics(&kafka, &topics).await?;

    // Enrol Obama and Biden from one photo each.
    let files = files();
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let mut describer = FaceDescriptor::new(&environment, &files.descriptor_model(), DescriptorSettings::default())?;
    let spec = IndexSpec {
        model_name: MODEL_NAME.into(),
        model_version: MODEL_VERSION.into(),
        dim: DESCRIPTOR_DIM,
        threads: 1,
    };
    let list = NewList { name: "vip".into(), purpose: "guests".into(), threshold: 0.5, top_k: 3, stream_ids: vec![] };
    let list_id = watchlists::create_list(&pool, &list).await?;
    for (name, file) in [("Obama", "obama.jpg"), ("Biden", "biden.jpg")] {
        let d = descriptor(&mut detector, &mut describer, &photo(file));
        watchlists::enrol(&pool, list_id, &person(name), &[d], &spec).await?;
    }

    let enrich = ServiceProcess::start(
        "sightline-enrich",
        "ENRICH",
        "METRICS_ADDR",
        &[],
        &[
            ("KAFKA__BROKERS", kafka.brokers.clone()),
            ("INPUT_TOPIC", input.clone()),
            ("OUTPUT_TOPIC", output.clone()),
            ("DLQ_TOPIC", dlq.clone()),
            ("GROUP_ID", format!("test-enrich-{tag}")),
            ("POSTGRES_URL", url.clone()),
            ("MODELS_DIR", files.dir.display().to_string()),
        ],
        &format!("enrich-{tag}"),
    )?;

    // Detections from other photos of the same people, a stranger, a body, and garbage.
    let obama2 = detection(&mut detector, &photo("obama2.jpg"), "cam-1");
    let obama3 = detection(&mut detector, &photo("obama3.jpg"), "cam-2");
    let stranger = detection(&mut detector, &photo("astronaut.png"), "cam-1");
    let body = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind: ObjectKind::Body as i32,
        landmarks: vec![],
        ..stranger.clone()
    };
    let producer = kafka.idempotent_producer()?;
    for event in [&obama2, &obama3, &stranger, &body] {
        produce(&producer, &input, &event.stream_id, &event.encode_to_vec()).await?;
    }
    produce(&producer, &input, "cam-1", b"not a detection").await?;

    let mut config = kafka.client_config();
    config.set("group.id", format!("test-enrich-reader-{tag}")).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[&output])?;
    let events = read(&consumer, 4).await?;

    for (detection, who) in [(&obama2, "obama2.jpg"), (&obama3, "obama3.jpg")] {
        let event = &events[&detection.event_id];
        assert_eq!(event.event_id, enriched_event_id(&detection.event_id).to_string());
        let descriptor = event.descriptor.as_ref().expect("a descriptor");
        assert_eq!((descriptor.values.len(), descriptor.model_name.as_str()), (DESCRIPTOR_DIM, MODEL_NAME));
        let best = event.matches.first().unwrap_or_else(|| panic!("{who} matches no one: {:?}", event.matches));
        assert_eq!(
            (best.person_display_name.as_str(), best.rank, best.list_name.as_str()),
            ("Obama", 1, "vip"),
            "{who}"
        );
        assert!(best.similarity >= 0.5 && best.threshold == 0.5, "{who}: {best:?}");
        assert!(event.matches.iter().all(|m| m.person_display_name != "Biden"), "{who}: {:?}", event.matches);
    }
    let unknown = &events[&stranger.event_id];
    assert!(unknown.descriptor.is_some());
    assert!(unknown.matches.is_empty(), "the stranger matches no one: {:?}", unknown.matches);
    let passed = &events[&body.event_id];
    assert_eq!((passed.descriptor_skip_reason.as_str(), passed.descriptor.is_none()), ("body", true));

    let mut config = kafka.client_config();
    config.set("group.id", format!("test-enrich-dlq-{tag}")).set("auto.offset.reset", "earliest");
    let dead: StreamConsumer = config.create()?;
    dead.subscribe(&[&dlq])?;
    let letter = tokio::time::timeout(Duration::from_secs(30), dead.recv()).await??;
    assert_eq!(letter.payload(), Some(&b"not a detection"[..]));
    let reason = letter
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == "dlq.reason").and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned());
    assert_eq!(reason.as_deref(), Some("decode"), "the reason travels in the headers");

    // Enrol the stranger while enrich runs: within a second, the same face matches.
    let d = descriptor(&mut detector, &mut describer, &photo("astronaut.png"));
    watchlists::enrol(&pool, list_id, &person("Astronaut"), &[d], &spec).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = DetectionEvent { event_id: uuid::Uuid::new_v4().to_string(), ..stranger.clone() };
    produce(&producer, &input, &again.stream_id, &again.encode_to_vec()).await?;
    let events = read(&consumer, 1).await?;
    let event = events.get(&again.event_id).expect("the new detection's event");
    let best = event.matches.first().expect("the newly listed person matches");
    assert_eq!(best.person_display_name, "Astronaut");
    assert!(best.similarity > 0.9, "same photo: {best:?}");

    assert!(enrich.terminate(Duration::from_secs(30)), "SIGTERM stops enrich cleanly");
    pool.close().await;
    admin.execute(format!("DROP DATABASE {database} WITH (FORCE)").as_str()).await?;
    Ok(())
}
