//! `sightline-enrich` as a process on the real broker and PostgreSQL, with the real models.
//!
//! People are enrolled over the watchlists API from one photo each (obama.jpg, biden.jpg); photos with
//! no face or two faces get a 422, unless one of the two is chosen (`face`): the chosen face's
//! descriptor is that person's. Detections are made from *other* photos (obama2.jpg, obama3.jpg)
//! and of a stranger (astronaut.png), cropped and encoded the way ingest does. The right person must
//! match above the threshold, the stranger no one; a body passes through with its reason; garbage
//! goes to the dead-letter topic. Then the stranger is enrolled over the API while enrich runs, and
//! one second later the same face matches.
//!
//! Search by face (the query service): detections from some photos go through enrich and the writer
//! into ClickHouse, each twice (as a replay leaves them); a search from another photo of the same
//! person finds exactly that person's tracks, once each, and no stranger above the threshold; a
//! search from an event's face finds that event first; every search is in the audit trail.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod faces;

use faces::{detection, files, photo};

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sha2::Digest as _;
use sightline_common::auth::Role;
use sightline_common::kafka::TopicSpec;
use sightline_enrich::pipeline::enriched_event_id;
use sightline_schemas::v1::{DetectionEvent, EnrichedEvent, ObjectKind, TrackReportKind};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce_raw};
use sightline_testkit::pipeline::side_by_side;
use sightline_testkit::stack::{
    self, Isolation, KeyReader, ServiceProcess, TestDatabase, event_counts, event_ids, eventually,
};
use sightline_vision::descriptor::{DESCRIPTOR_DIM, DescriptorSettings, FaceDescriptor, MODEL_NAME};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings};
use sightline_vision::frame::RgbFrame;
use sightline_vision::photo::PhotoDescriber;
use std::collections::HashMap;
use std::time::Duration;

/// `frame` as [`side_by_side`] takes it.
fn pixels(frame: &RgbFrame) -> sightline_testkit::pipeline::RgbImage<'_> {
    (frame.width, frame.height, &frame.data)
}

/// One test's own topics (detections in; enriched events and dead letters out), consumer groups
/// and PostgreSQL database.
struct EnrichTest {
    iso: Isolation,
    /// Detections topic.
    input: String,
    db: TestDatabase,
}

impl EnrichTest {
    async fn new(name: &str, partitions: i32) -> anyhow::Result<Self> {
        let iso = Isolation::new(name, partitions).await?;
        let input = format!("{}.detections", iso.topic);
        let spec = TopicSpec { name: input.clone(), partitions, replication: 1, retention_ms: -1 };
        sightline_common::kafka::ensure_topics(&stack::kafka(), &[spec]).await?;
        let db = TestDatabase::create(&format!("test_{name}")).await?;
        Ok(Self { iso, input, db })
    }

    /// Starts `sightline-enrich` on these topics, its API on `api_port`, with `settings` (as
    /// `SIGHTLINE_ENRICH__<KEY>`) over the test defaults.
    fn start(&self, api_port: u16, settings: &[(&str, String)]) -> anyhow::Result<ServiceProcess> {
        let group = format!("{}-enrich", self.iso.group);
        let mut all = vec![
            ("KAFKA__BROKERS", stack::kafka().brokers),
            ("INPUT_TOPIC", self.input.clone()),
            ("OUTPUT_TOPIC", self.iso.topic.clone()),
            ("DLQ_TOPIC", self.iso.dlq_topic.clone()),
            ("GROUP_ID", group.clone()),
            ("POSTGRES_URL", self.db.url.clone()),
            ("MODELS_DIR", files().dir.display().to_string()),
            ("HTTP_ADDR", format!("127.0.0.1:{api_port}")),
        ];
        all.extend(stack::object_settings(&self.iso.database));
        all.extend(settings.iter().cloned());
        ServiceProcess::start("sightline-enrich", "ENRICH", "METRICS_ADDR", &[], &all, &group)
    }

    /// A consumer reading `topic` from its start in a group of its own (`role` names it).
    fn reader(&self, topic: &str, role: &str) -> anyhow::Result<StreamConsumer> {
        let mut config = stack::kafka().client_config();
        config.set("group.id", format!("{}-{role}", self.iso.group)).set("auto.offset.reset", "earliest");
        let consumer: StreamConsumer = config.create()?;
        consumer.subscribe(&[topic])?;
        Ok(consumer)
    }
}

async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) -> anyhow::Result<()> {
    producer
        .send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(30))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
    Ok(())
}

/// Enriched events from `consumer` by detection id, until `count` or a 60 s silence.
/// Their sealed fields are opened with `keys`, as an authorised consumer does.
async fn read(
    consumer: &StreamConsumer,
    keys: &KeyReader,
    count: usize,
) -> anyhow::Result<HashMap<String, EnrichedEvent>> {
    let mut events = HashMap::new();
    while events.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .map_err(|_| anyhow::anyhow!("only {} of {count} enriched events", events.len()))??;
        let mut event = EnrichedEvent::decode(message.payload().unwrap_or_default())?;
        if event.sealed.is_some() {
            // On the wire, a descriptor and its matches are ciphertext only.
            assert!(event.descriptor.is_none() && event.matches.is_empty() && event.track_best_match.is_none());
        }
        keys.open_enriched(&mut event).await?;
        let detection = event.detection.clone().expect("the detection travels along");
        events.insert(detection.event_id, event);
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_match_their_enrolled_person_and_strangers_match_no_one() -> anyhow::Result<()> {
    // Topics and a database of our own.
    let test = EnrichTest::new("enrich", 2).await?;
    let (input, output, dlq, pool) = (&test.input, &test.iso.topic, &test.iso.dlq_topic, &test.db.pool);
    let kafka = stack::kafka();

    let files = files();
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    sightline_common::auth::register(pool, "ops", "ops-secret", Role::Operator).await?;
    sightline_common::auth::register(pool, "viewer", "view-secret", Role::Viewer).await?;

    let api_port = stack::free_port()?;
    let enrich = test.start(api_port, &[])?;
    stack::eventually(Duration::from_secs(60), "the watchlists API", || async move {
        Ok(std::net::TcpStream::connect(("127.0.0.1", api_port)).ok().map(|_| ()))
    })
    .await?;
    let call = move |method: &'static str, path: String, token: &'static str, kind: &'static str, body: Vec<u8>| {
        tokio::task::spawn_blocking(move || stack::http_request(api_port, method, &path, Some(token), kind, &body))
    };

    // Lists: a viewer may not create one, a bad threshold is refused, an operator creates it.
    let list = br#"{"name": "vip", "purpose": "guests", "threshold": 0.5, "top_k": 3}"#.to_vec();
    let (status, _) = call("POST", "/v1/watchlists".into(), "view-secret", "application/json", list.clone()).await??;
    assert_eq!(status, 403);
    let bad = br#"{"name": "x", "threshold": 3}"#.to_vec();
    let (status, body) = call("POST", "/v1/watchlists".into(), "ops-secret", "application/json", bad).await??;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("threshold"), "{body}");
    let (status, body) = call("POST", "/v1/watchlists".into(), "ops-secret", "application/json", list).await??;
    assert_eq!(status, 201, "{body}");
    let list_id = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").to_owned();

    // Enrol Obama and Biden from one photo each; a photo without a face or with two is refused.
    let persons = format!("/v1/watchlists/{list_id}/persons");
    let bytes = |file: &str| std::fs::read(files.dir.join("images").join(file)).expect("photo");
    for (name, file) in [("Obama", "obama.jpg"), ("Biden", "biden.jpg")] {
        let path = format!("{persons}?display_name={name}&external_id=ext-{name}");
        let (status, body) = call("POST", path, "ops-secret", "image/jpeg", bytes(file)).await??;
        assert_eq!(status, 201, "{name}: {body}");
        assert!(body.contains("\"descriptors\":1"), "{body}");
    }
    let cup = format!("{persons}?display_name=Cup");
    let (status, body) = call("POST", cup, "ops-secret", "image/png", bytes("coffee.png")).await??;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("no face"), "{body}");
    let pair = side_by_side(pixels(&photo("obama.jpg")), pixels(&photo("biden.jpg")))?;
    let (status, body) =
        call("POST", format!("{persons}?display_name=Pair"), "ops-secret", "image/jpeg", pair.clone()).await??;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("2 faces") && body.contains("choose one (face)"), "{body}");
    // Choosing a face of the two: the examination lists them; the one on the right (Biden's) is
    // enrolled, and its descriptor is Biden's, not Obama's.
    let (status, examined) =
        call("POST", "/v1/watchlists/faces".into(), "ops-secret", "image/jpeg", pair.clone()).await??;
    assert_eq!(status, 200, "{examined}");
    let examined: serde_json::Value = serde_json::from_str(&examined)?;
    let left_width = f64::from(photo("obama.jpg").width);
    let faces = examined["faces"].as_array().expect("faces");
    let right =
        faces.iter().position(|f| f["x"].as_f64().is_some_and(|x| x >= left_width)).expect("a face on the right");
    let (status, body) =
        call("POST", format!("{persons}?display_name=Pair&face=7"), "ops-secret", "image/jpeg", pair.clone()).await??;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("face 7: the image has 2 face(s)"), "{body}");
    let (status, body) =
        call("POST", format!("{persons}?display_name=Chosen&face={right}"), "ops-secret", "image/jpeg", pair).await??;
    assert_eq!(status, 201, "{body}");
    let chosen = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").parse::<uuid::Uuid>()?;
    let similarities: HashMap<String, f64> = sqlx::query_as(
        "SELECT p.display_name, (SELECT sum(x * y) FROM unnest(d.descriptor, c.descriptor) AS t (x, y))::float8 \
         FROM person_descriptors d JOIN watchlist_persons p ON p.id = d.person_id, person_descriptors c \
         WHERE c.person_id = $1 AND d.person_id <> $1",
    )
    .bind(chosen)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    assert!(similarities["Biden"] > 0.8 && similarities["Obama"] < 0.4, "{similarities:?}");
    let (status, _) = call("DELETE", format!("{persons}/{chosen}"), "ops-secret", "", vec![]).await??;
    assert_eq!(status, 204);
    let (status, _) = call("GET", format!("{persons}?q=OBA"), "view-secret", "", vec![]).await??;
    assert_eq!(status, 403, "viewers see no names or faces");
    let (status, body) = call("GET", format!("{persons}?q=OBA"), "ops-secret", "", vec![]).await??;
    assert_eq!(status, 200);
    let found: Vec<serde_json::Value> = serde_json::from_str(&body)?;
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["display_name"], "Obama");
    let (status, body) = call("GET", format!("{persons}?q=OB%00A"), "ops-secret", "", vec![]).await??;
    assert_eq!(status, 400, "a NUL byte in the search is refused, not a database error: {body}");
    assert!(body.contains("U+0000"), "{body}");

    // Detections from other photos of the same people, a stranger, a body, and garbage.
    let obama2 = detection(&mut detector, &photo("obama2.jpg"), "cam-1");
    // The first reports of two live tracks (more reports of them follow).
    let first_report = |event: DetectionEvent| DetectionEvent {
        schema_version: 2,
        track_ended: false,
        report_kind: TrackReportKind::First as i32,
        ..event
    };
    let obama3 = first_report(detection(&mut detector, &photo("obama3.jpg"), "cam-2"));
    let stranger = first_report(detection(&mut detector, &photo("astronaut.png"), "cam-1"));
    let body = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind: ObjectKind::Body as i32,
        landmarks: vec![],
        ..stranger.clone()
    };
    // A later report of obama3's track whose best shot changed to a face that matches no one: the
    // report matches no one, but carries the track's best match so far.
    let obama3_later = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        capture_time_ms: obama3.capture_time_ms + 1_000,
        track_id: obama3.track_id.clone(),
        stream_id: obama3.stream_id.clone(),
        report_kind: TrackReportKind::Improved as i32,
        report_sequence: 1,
        ..stranger.clone()
    };
    // Privacy by default: on cam-3, faces that match no one are kept as counts only. Both arrive
    // sealed as ingest seals them (the track's image key in PostgreSQL); the stranger's report ends
    // its track.
    let images = sightline_common::keys::Sealer::new(
        sightline_common::privacy::PrivacySettings::default().key_store(Default::default(), pool.clone())?,
        sightline_common::keys::KeyClass::Image,
    );
    let counted = |event: &DetectionEvent, ended: bool| DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        stream_id: "cam-3".into(),
        track_id: uuid::Uuid::new_v4().to_string(),
        schema_version: sightline_schemas::v1::SCHEMA_VERSION,
        count_only_unmatched_faces: true,
        track_ended: ended,
        report_kind: if ended { TrackReportKind::Ended } else { TrackReportKind::First } as i32,
        ..event.clone()
    };
    let (mut private_stranger, mut private_obama) = (counted(&stranger, true), counted(&obama2, false));
    for event in [&mut private_stranger, &mut private_obama] {
        let key = images.key(&event.stream_id, &event.track_id, event.first_seen_ms).await?;
        sightline_common::sealing::seal_detection(event, &key)?;
    }
    let producer = kafka.idempotent_producer()?;
    for event in [&obama2, &obama3, &stranger, &body, &obama3_later, &private_stranger, &private_obama] {
        produce(&producer, input, &event.stream_id, &event.encode_to_vec()).await?;
    }
    produce(&producer, input, "cam-1", b"not a detection").await?;
    // Too large to pass on: a valid detection but for its 1.2 MB best shot, and 2 MB of garbage
    // (more than librdkafka's default message size, which once made them impossible to dead-letter).
    let huge_shot = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        best_shot_jpeg: Some(vec![0xab; 1_200_000]),
        ..stranger.clone()
    };
    produce(&producer, input, "cam-1", &huge_shot.encode_to_vec()).await?;
    let mut garbage = vec![0xff_u8; 2_000_000];
    garbage[..3].copy_from_slice(b"\x08\x96\x01");
    produce(&producer, input, "cam-1", &garbage).await?;

    let consumer = test.reader(output, "reader")?;
    let events = read(&consumer, &KeyReader::new(test.db.pool.clone())?, 7).await?;

    for (detection, who) in [(&obama2, "obama2.jpg"), (&obama3, "obama3.jpg")] {
        let event = &events[&detection.event_id];
        assert_eq!(event.event_id, enriched_event_id(&detection.event_id).to_string());
        let descriptor = event.descriptor.as_ref().expect("a descriptor");
        assert!(event.sealed.is_some(), "{who}: the descriptor travels sealed");
        assert_eq!((descriptor.values.len(), descriptor.model_name.as_str()), (DESCRIPTOR_DIM, MODEL_NAME));
        let best = event.matches.first().unwrap_or_else(|| panic!("{who} matches no one: {:?}", event.matches));
        assert_eq!(
            (best.person_display_name.as_str(), best.rank, best.list_name.as_str()),
            ("Obama", 1, "vip"),
            "{who}"
        );
        assert!(best.similarity >= 0.5 && best.threshold == 0.5, "{who}: {best:?}");
        assert!(event.matches.iter().all(|m| m.person_display_name != "Biden"), "{who}: {:?}", event.matches);
        assert_eq!(event.track_best_match.as_ref(), Some(best), "{who}: the track's best match so far");
    }
    let later = &events[&obama3_later.event_id];
    assert!(later.descriptor.is_some() && later.matches.is_empty(), "{later:?}");
    let kept = later.track_best_match.as_ref().expect("the track's earlier match is kept");
    assert_eq!(Some(kept), events[&obama3.event_id].matches.first(), "the same match, searched again");
    let unknown = &events[&stranger.event_id];
    assert!(unknown.descriptor.is_some());
    let events_descriptor_of_stranger = unknown.descriptor.clone();
    assert!(unknown.matches.is_empty(), "the stranger matches no one: {:?}", unknown.matches);
    let passed = &events[&body.event_id];
    assert_eq!((passed.descriptor_skip_reason.as_str(), passed.descriptor.is_none()), ("body", true));
    // The counted stranger goes on as a count: no descriptor, no best shot in clear or sealed, and
    // its track's key is destroyed; the listed person on the same stream is kept whole.
    let counted_only = &events[&private_stranger.event_id];
    let detection = counted_only.detection.as_ref().expect("the detection");
    assert_eq!(
        (
            counted_only.descriptor_skip_reason.as_str(),
            counted_only.descriptor.is_none(),
            counted_only.sealed.is_none()
        ),
        ("unmatched_not_kept", true, true),
        "{counted_only:?}"
    );
    assert!(detection.best_shot_jpeg.is_none() && detection.sealed.is_none(), "no best shot: {detection:?}");
    let keys_left = |track: String| async move {
        anyhow::Ok(
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM track_keys WHERE track_id = $1")
                .bind(track)
                .fetch_one(pool)
                .await?,
        )
    };
    assert_eq!(keys_left(private_stranger.track_id.clone()).await?, 0, "the unmatched track's keys are destroyed");
    let listed = &events[&private_obama.event_id];
    assert!(listed.descriptor.is_some() && listed.matches.first().is_some_and(|m| m.person_display_name == "Obama"));
    assert!(listed.detection.as_ref().is_some_and(|d| d.sealed.is_some()), "the listed person's best shot is kept");
    assert!(keys_left(private_obama.track_id.clone()).await? >= 2, "image and template keys, marked matched");

    let dead = test.reader(dlq, "dlq")?;
    let mut letters = HashMap::new();
    while letters.len() < 3 {
        let letter = tokio::time::timeout(Duration::from_secs(30), dead.recv()).await??;
        let payload = letter.payload().unwrap_or_default().to_vec();
        letters.insert(payload, (stack::header(&letter, "dlq.reason"), stack::header(&letter, "dlq.detail")));
    }
    let reason_of = |payload: &[u8]| letters.get(payload).map(|(reason, _)| reason.as_str());
    assert_eq!(reason_of(b"not a detection"), Some("decode"), "the reason travels in the headers");
    assert_eq!(reason_of(&garbage), Some("decode"), "2 MB of garbage is dead-lettered whole");
    assert_eq!(reason_of(&huge_shot.encode_to_vec()), Some("too_large"), "a 1.2 MB best shot is over the limit");

    // Enrol the stranger while enrich runs: within a second, the same face matches. The stranger's
    // track reports again with the same best shot (its end): described once, matched anew.
    let path = format!("{persons}?display_name=Astronaut");
    let (status, body) = call("POST", path, "ops-secret", "image/png", bytes("astronaut.png")).await??;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        report_kind: TrackReportKind::Ended as i32,
        report_sequence: 1,
        track_ended: true,
        ..stranger.clone()
    };
    produce(&producer, input, &again.stream_id, &again.encode_to_vec()).await?;
    let events = read(&consumer, &KeyReader::new(test.db.pool.clone())?, 1).await?;
    let event = events.get(&again.event_id).expect("the new detection's event");
    let best = event.matches.first().expect("the newly listed person matches");
    assert_eq!(best.person_display_name, "Astronaut");
    assert!(best.similarity > 0.9, "same photo: {best:?}");
    assert_eq!(event.track_best_match.as_ref(), Some(best));
    assert_eq!(event.descriptor, events_descriptor_of_stranger, "the same descriptor, not extracted again");

    // What happened is visible in /metrics: 6 faces described (obama2, obama3, the stranger, obama3's
    // later shot, the two on cam-3), one reused (the stranger's second report), one body and one
    // counted face skipped, three dead letters, and 4 matches.
    let metric = |name: &str| enrich.metric(name).unwrap_or(f64::NAN);
    eventually(Duration::from_secs(10), "8 acknowledged outputs in /metrics", || async {
        Ok((metric("sightline_enrich_produced_total") == 8.0).then_some(()))
    })
    .await?;
    assert_eq!(metric("sightline_enrich_described_total"), 6.0);
    assert_eq!(metric("sightline_enrich_descriptors_reused_total"), 1.0);
    assert_eq!(metric("sightline_enrich_skipped_total"), 2.0);
    assert_eq!(metric("sightline_enrich_dead_lettered_total"), 3.0);
    assert_eq!(metric("sightline_enrich_matches_total"), 4.0);
    let (status, ready) = enrich.get("/readyz")?;
    assert_eq!((status, ready.trim()), (200, "ready"));

    // A photo's faces as enrolment sees them, nothing stored: one usable face, none, or two.
    let examine =
        |bytes: Vec<u8>, token: &'static str| call("POST", "/v1/watchlists/faces".into(), token, "image/jpeg", bytes);
    let (status, body) = examine(bytes("obama2.jpg"), "ops-secret").await??;
    let one: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        (status, one["faces"].as_array().map(Vec::len), one["refusal"].is_null()),
        (200, Some(1), true),
        "{body}"
    );
    let face = &one["faces"][0];
    let (x, width) = (face["x"].as_f64().expect("x"), face["width"].as_f64().expect("width"));
    assert!(x >= 0.0 && width > 20.0 && x + width <= one["width"].as_f64().expect("photo width") + 1.0, "{body}");
    let (status, body) =
        examine(side_by_side(pixels(&photo("obama.jpg")), pixels(&photo("biden.jpg")))?, "ops-secret").await??;
    let two: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!((status, two["faces"].as_array().map(Vec::len)), (200, Some(2)), "{body}");
    assert!(two["refusal"].as_str().is_some_and(|r| r.contains("2 faces")), "{body}");
    let (status, body) = examine(bytes("coffee.png"), "ops-secret").await??;
    assert!(status == 200 && body.contains("no face found"), "{body}");
    assert_eq!(examine(bytes("obama2.jpg"), "view-secret").await??.0, 403);
    assert_eq!(examine(b"not a photo".to_vec(), "ops-secret").await??.0, 422);
    let (_, persons_now) = call("GET", format!("{persons}?q=Obama"), "ops-secret", "", vec![]).await??;
    let obama: Vec<serde_json::Value> = serde_json::from_str(&persons_now)?;
    assert_eq!(obama.len(), 1, "examining stored no one: {persons_now}");

    // A second photo of a listed person, and the picture of their first face.
    let obama_id = obama[0]["id"].as_str().expect("id").to_owned();
    let faces = format!("{persons}/{obama_id}/faces");
    let (status, body) = call("POST", faces.clone(), "ops-secret", "image/jpeg", bytes("obama2.jpg")).await??;
    assert_eq!(status, 201, "{body}");
    let updated: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!((updated["descriptors"].as_i64(), updated["pictures"].as_i64()), (Some(2), Some(2)), "{body}");
    let (status, body) = call("POST", faces, "ops-secret", "image/png", bytes("coffee.png")).await??;
    assert!(status == 422 && body.contains("no face"), "{body}");
    let nobody = uuid::Uuid::new_v4();
    let stray = format!("{persons}/{nobody}/faces");
    assert_eq!(call("POST", stray, "ops-secret", "image/jpeg", bytes("obama2.jpg")).await??.0, 404);
    let picture_path = format!("{persons}/{obama_id}/picture");
    let picture = stack::http_exchange(api_port, "GET", &picture_path, Some("ops-secret"), "", b"")?;
    assert_eq!((picture.status, picture.header("content-type")), (200, Some("image/jpeg")));
    let picture = RgbFrame::decode(&picture.body)?;
    assert!(picture.width.max(picture.height) <= 256 && picture.width >= 64, "{}x{}", picture.width, picture.height);
    assert_eq!(detector.detect(&picture)?.len(), 1, "the picture shows the face");
    assert_eq!(stack::http_exchange(api_port, "GET", &picture_path, Some("view-secret"), "", b"")?.status, 403);
    // The pictures are objects in the person's folder of the object store; the rows keep their keys.
    let keys: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT picture_key FROM person_descriptors WHERE person_id = $1::uuid AND picture_jpeg IS NULL",
    )
    .bind(&obama_id)
    .fetch_all(&test.db.pool)
    .await?;
    let store = stack::object_store(&test.iso.database)?;
    let folder = format!("pictures/{list_id}/{obama_id}/");
    let mut stored = store.list(&folder).await?;
    stored.sort();
    let mut named: Vec<String> = keys.into_iter().flatten().collect();
    named.sort();
    assert!(named.len() == 2 && stored == named, "{stored:?} {named:?}");

    // A list's settings change in place; errors name the field; a taken name is a conflict.
    let list_path = format!("/v1/watchlists/{list_id}");
    let change = |path: String, body: &'static str| {
        call("PATCH", path, "ops-secret", "application/json", body.as_bytes().to_vec())
    };
    let (status, body) = change(list_path.clone(), r#"{"threshold": 0.6, "top_k": 2}"#).await??;
    let changed: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (changed["top_k"].as_i64(), changed["name"].as_str(), changed["purpose"].as_str()),
        (Some(2), Some("vip"), Some("guests"))
    );
    assert!((changed["threshold"].as_f64().expect("threshold") - 0.6).abs() < 1e-6, "{body}");
    for (bad, field) in
        [(r#"{"threshold": 2}"#, "threshold"), (r#"{"top_k": 0}"#, "top_k"), (r#"{"colour": 1}"#, "colour")]
    {
        let (status, body) = change(list_path.clone(), bad).await??;
        assert!(status == 400 && body.contains(field), "{bad}: {status} {body}");
    }
    let other = br#"{"name": "other"}"#.to_vec();
    let (status, body) = call("POST", "/v1/watchlists".into(), "ops-secret", "application/json", other).await??;
    let other_id = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").to_owned();
    assert_eq!(status, 201);
    assert_eq!(change(format!("/v1/watchlists/{other_id}"), r#"{"name": "vip"}"#).await??.0, 409);
    assert_eq!(change(format!("/v1/watchlists/{nobody}"), r#"{"top_k": 2}"#).await??.0, 404);

    // Removing the person removes their pictures from the store.
    assert_eq!(call("DELETE", format!("{persons}/{obama_id}"), "ops-secret", "", vec![]).await??.0, 204);
    assert!(store.list(&folder).await?.is_empty(), "the pictures went with the person");

    assert!(enrich.terminate(Duration::from_secs(30)), "SIGTERM stops enrich cleanly");
    test.db.remove().await?;
    Ok(())
}

/// Enrich SIGKILLed three times while it works through 400 detections, then the writer lands its
/// output: exactly one enriched event per detection is visible in ClickHouse, with the ids derived
/// from the detections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrich_killed_mid_stream_still_yields_one_enriched_event_per_detection() -> anyhow::Result<()> {
    const DETECTIONS: u64 = 400;
    let test = EnrichTest::new("enrichkill", 3).await?;
    let (input, iso) = (&test.input, &test.iso);

    // Realistic detections (faces with landmarks and best shots, and bodies) from the load generator.
    let generator = EventGenerator::new(LoadProfile { seed: 21, ..Default::default() });
    let detections: Vec<DetectionEvent> = (0..DETECTIONS).filter_map(|i| generator.event(i).detection).collect();
    let messages: Vec<(String, Vec<u8>)> =
        detections.iter().map(|d| (d.stream_id.clone(), d.encode_to_vec())).collect();
    produce_raw(&stack::kafka(), input, &messages).await?;
    let mut expected: Vec<String> = detections.iter().map(|d| enriched_event_id(&d.event_id).to_string()).collect();
    expected.sort();

    for (round, pause_ms) in [(1, 700u64), (2, 300), (3, 1_100)] {
        let enrich = test.start(stack::free_port()?, &[])?;
        // Kill it once it is producing (it owns partitions and is mid-stream), not while the group is
        // still rebalancing; then a little later, so kills land at different points of a batch.
        eventually(Duration::from_secs(120), &format!("enrich round {round} producing"), || async {
            Ok((enrich.metric("sightline_enrich_produced_total").unwrap_or(0.0) >= 1.0).then_some(()))
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        enrich.kill();
    }
    let enrich = test.start(stack::free_port()?, &[])?;
    let clickhouse = stack::clickhouse(&iso.database);
    let writer = ServiceProcess::writer(iso, &clickhouse, &[], &[("POSTGRES_URL", &test.db.url)])?;
    eventually(Duration::from_secs(180), &format!("{DETECTIONS} enriched events landed"), || async {
        let (visible, _) = event_counts(&clickhouse).await?;
        anyhow::ensure!(visible <= DETECTIONS, "{visible} visible, more than {DETECTIONS} detections");
        Ok((visible == DETECTIONS).then_some(()))
    })
    .await?;
    assert_eq!(event_counts(&clickhouse).await?, (DETECTIONS, DETECTIONS));
    assert_eq!(event_ids(&clickhouse).await?, expected, "one enriched event per detection, ids from the detections");
    assert!(enrich.terminate(Duration::from_secs(30)));
    assert!(writer.terminate(Duration::from_secs(30)));
    test.db.remove().await?;
    Ok(())
}

/// A descriptor model that fails on every run (here: another model's file in its place) is retried,
/// then its faces go to the dead-letter topic with reason `model_error`; bodies still pass through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_the_model_keeps_failing_on_are_dead_lettered() -> anyhow::Result<()> {
    let test = EnrichTest::new("enrichfail", 1).await?;

    // The models directory, with RetinaFace where MobileFaceNet should be: it loads, but has no
    // `embeddings` output, so every descriptor run fails.
    let real = files();
    let broken = std::env::temp_dir().join(format!("sightline-broken-models-{}", test.iso.group));
    std::fs::create_dir_all(&broken)?;
    for entry in ["lib", "images", "retinaface_mnet025.onnx", "pedestrian_ssdlite.onnx"] {
        std::os::unix::fs::symlink(real.dir.join(entry), broken.join(entry))?;
    }
    std::os::unix::fs::symlink(real.face_model(), broken.join("mobilefacenet.onnx"))?;

    let settings = [("MODELS_DIR", broken.display().to_string()), ("MODEL_RETRIES", "2".into())];
    let enrich = test.start(stack::free_port()?, &settings)?;
    let environment = detect::runtime(&real.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &real.face_model(), FaceDetectorSettings::default())?;
    let face = detection(&mut detector, &photo("obama2.jpg"), "cam-1");
    let body = DetectionEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        kind: ObjectKind::Body as i32,
        landmarks: vec![],
        ..face.clone()
    };
    let producer = stack::kafka().idempotent_producer()?;
    produce(&producer, &test.input, "cam-1", &face.encode_to_vec()).await?;
    produce(&producer, &test.input, "cam-1", &body.encode_to_vec()).await?;

    let dead = test.reader(&test.iso.dlq_topic, "dlq")?;
    let letter = tokio::time::timeout(Duration::from_secs(60), dead.recv()).await??;
    let header = |name: &str| stack::header(&letter, name);
    assert_eq!(header("dlq.reason"), "model_error");
    assert!(header("dlq.detail").contains("embeddings"), "{}", header("dlq.detail"));
    assert_eq!(letter.payload(), Some(face.encode_to_vec().as_slice()), "the original detection, unchanged");

    let consumer = test.reader(&test.iso.topic, "reader")?;
    let events = read(&consumer, &KeyReader::new(test.db.pool.clone())?, 1).await?;
    assert_eq!(events[&body.event_id].descriptor_skip_reason, "body", "bodies still pass through");
    assert_eq!(enrich.metric("sightline_enrich_model_retries_total")?, 2.0, "retried before giving up");

    assert!(enrich.terminate(Duration::from_secs(30)));
    let _ = std::fs::remove_dir_all(&broken);
    test.db.remove().await?;
    Ok(())
}

/// The database refuses every connection for a few seconds while enrich runs: its watchlist follower
/// loses its notification connection and cannot reload. It reports the stale index (`/readyz` and
/// `/metrics`), keeps retrying, and once the database is back, a person enrolled during the outage
/// (whose notification nobody heard) and one enrolled after it both match within seconds. A face
/// that arrives during the outage cannot get its track's key: enrich says so on `/readyz` and sends
/// it on, sealed, once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlist_changes_made_during_a_database_outage_are_not_lost() -> anyhow::Result<()> {
    use sqlx::{Connection, Executor, Row};
    let test = EnrichTest::new("follower", 1).await?;
    let pool = &test.db.pool;
    sightline_common::auth::register(pool, "ops", "ops-secret", Role::Operator).await?;
    let api_port = stack::free_port()?;
    let enrich = test.start(api_port, &[])?;
    stack::eventually(Duration::from_secs(60), "the watchlists API", || async move {
        Ok(std::net::TcpStream::connect(("127.0.0.1", api_port)).ok().map(|_| ()))
    })
    .await?;
    let call = move |method: &'static str, path: String, kind: &'static str, body: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            stack::http_request(api_port, method, &path, Some("ops-secret"), kind, &body)
        })
    };
    let files = files();
    let bytes = |file: &str| std::fs::read(files.dir.join("images").join(file)).expect("photo");
    let create =
        |body: &'static str| call("POST", "/v1/watchlists".into(), "application/json", body.as_bytes().to_vec());
    let (status, body) = create(r#"{"name": "door", "threshold": 0.5}"#).await??;
    assert_eq!(status, 201, "{body}");
    let door = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").to_owned();
    // Biden's descriptor, enrolled in a list that applies to no stream of this test: the outage's
    // enrolment copies it into `door` with SQL while nothing can reach the database through enrich.
    let (status, body) = create(r#"{"name": "staging", "threshold": 0.5, "stream_ids": ["elsewhere"]}"#).await??;
    assert_eq!(status, 201, "{body}");
    let staging = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").to_owned();
    let (status, body) =
        call("POST", format!("/v1/watchlists/{staging}/persons?display_name=Biden"), "image/jpeg", bytes("biden.jpg"))
            .await??;
    assert_eq!(status, 201, "{body}");
    let staged_person = serde_json::from_str::<serde_json::Value>(&body)?["id"].as_str().expect("id").to_owned();
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let biden = detection(&mut detector, &photo("biden.jpg"), "cam-1");
    let astronaut = detection(&mut detector, &photo("astronaut.png"), "cam-1");
    let producer = stack::kafka().idempotent_producer()?;
    let consumer = test.reader(&test.iso.topic, "reader")?;

    // The outage: new connections refused, every open one but ours closed.
    let mut keeper = sqlx::PgConnection::connect(&test.db.url).await?;
    let mut owner = sqlx::PgConnection::connect(&stack::postgres_url()).await?;
    let name = &test.db.name;
    owner.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str()).await?;
    keeper
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            .as_str(),
        )
        .await?;
    eventually(Duration::from_secs(20), "/readyz to report the stale watchlist index", || async {
        let (status, reason) = enrich.get("/readyz")?;
        Ok((status == 503 && reason.contains("watchlists")).then_some(reason))
    })
    .await?;
    let waiting = DetectionEvent { event_id: uuid::Uuid::new_v4().to_string(), ..astronaut.clone() };
    produce(&producer, &test.input, "cam-1", &waiting.encode_to_vec()).await?;
    eventually(Duration::from_secs(20), "/readyz to report the track keys", || async {
        let (status, reason) = enrich.get("/readyz")?;
        Ok((status == 503 && reason.contains("track_keys: cannot read track keys")).then_some(reason))
    })
    .await?;
    // Biden enrolled in `door` during the outage.
    let person = sqlx::query(
        "INSERT INTO watchlist_persons (list_id, display_name, external_id) VALUES ($1::uuid, 'Biden', 'ext-biden') RETURNING id",
    )
    .bind(&door)
    .fetch_one(&mut keeper)
    .await?
    .try_get::<uuid::Uuid, _>("id")?;
    sqlx::query(
        "INSERT INTO person_descriptors (person_id, list_id, model_name, model_version, descriptor) \
         SELECT $1, $2::uuid, model_name, model_version, descriptor FROM person_descriptors WHERE person_id = $3::uuid",
    )
    .bind(person)
    .bind(&door)
    .bind(&staged_person)
    .execute(&mut keeper)
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(enrich.metric("sightline_enrich_watchlist_index_age_seconds")? >= 3.0, "the index's age is exported");
    let (status, reason) = enrich.get("/readyz")?;
    assert!(status == 503 && reason.contains("stale"), "{status} {reason}");
    owner.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str()).await?;
    let keys = KeyReader::new(test.db.pool.clone())?;
    let sent = read(&consumer, &keys, 1).await?;
    let sent = sent.get(&waiting.event_id).expect("the face that waited for its key");
    assert!(sent.sealed.is_some() && sent.descriptor.is_some(), "sent on sealed, and opens: {sent:?}");

    // After the outage: the astronaut enrolled over the API.
    let (status, body) = call(
        "POST",
        format!("/v1/watchlists/{door}/persons?display_name=Astronaut"),
        "image/png",
        bytes("astronaut.png"),
    )
    .await??;
    assert_eq!(status, 201, "{body}");
    let ended = std::time::Instant::now();
    eventually(Duration::from_secs(20), "both people to match after the outage", || async {
        let (biden, astronaut) = (
            DetectionEvent { event_id: uuid::Uuid::new_v4().to_string(), ..biden.clone() },
            DetectionEvent { event_id: uuid::Uuid::new_v4().to_string(), ..astronaut.clone() },
        );
        produce(&producer, &test.input, "cam-1", &biden.encode_to_vec()).await?;
        produce(&producer, &test.input, "cam-1", &astronaut.encode_to_vec()).await?;
        let events = read(&consumer, &keys, 2).await?;
        let best = |id: &str| events.get(id).and_then(|e| e.matches.first()).map(|m| m.person_display_name.clone());
        let matched = (best(&biden.event_id), best(&astronaut.event_id));
        Ok((matched == (Some("Biden".into()), Some("Astronaut".into()))).then_some(()))
    })
    .await?;
    println!("both matched {} ms after the outage ended", ended.elapsed().as_millis());

    // A person's page: renamed, their external id given to the staging entry too, which the page
    // then names as another list that has them; the new name is what matches carry from now on.
    let page = |list: &str, person: &str| format!("/v1/watchlists/{list}/persons/{person}");
    let patch = |list: &str, person: &str, body: &str| {
        call("PATCH", page(list, person), "application/json", body.as_bytes().to_vec())
    };
    let (status, body) = patch(&door, &person.to_string(), r#"{"display_name": " Joseph R. Biden "}"#).await??;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (json(&body)["display_name"].as_str(), json(&body)["list_name"].as_str()),
        (Some("Joseph R. Biden"), Some("door"))
    );
    let (status, body) = patch(&staging, &staged_person, r#"{"external_id": "ext-biden"}"#).await??;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("GET", page(&door, &person.to_string()), "", Vec::new()).await??;
    assert_eq!(status, 200, "{body}");
    let also_on = &json(&body)["also_on"];
    assert_eq!(also_on.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(
        (also_on[0]["list_name"].as_str(), also_on[0]["person_id"].as_str()),
        (Some("staging"), Some(staged_person.as_str()))
    );
    for (body, needle) in [
        (r#"{"display_name": ""}"#, "display_name"),
        (r#"{"name": "x"}"#, "name"),
        (r#"{"external_id": "a\nb"}"#, "external_id"),
    ] {
        let (status, answer) = patch(&door, &person.to_string(), body).await??;
        assert!(status == 400 && answer.contains(needle), "{body}: {status} {answer}");
    }
    assert_eq!(patch(&door, &uuid::Uuid::new_v4().to_string(), r#"{"display_name": "x"}"#).await??.0, 404);
    // Each change made through the API is in the audit log as the operator's; refused ones and the
    // outage's SQL are not.
    let logged: Vec<(String, String)> =
        sqlx::query_as("SELECT action, principal_name FROM audit_log ORDER BY id").fetch_all(pool).await?;
    let actions: Vec<&str> = logged.iter().map(|(action, _)| action.as_str()).collect();
    let expected = ["watchlist.create", "watchlist.create", "watchlist.person.enrol", "watchlist.person.enrol"];
    let expected = expected.iter().chain(&["watchlist.person.change", "watchlist.person.change"]);
    assert_eq!(actions, expected.copied().collect::<Vec<_>>());
    assert!(logged.iter().all(|(_, who)| who == "ops"), "{logged:?}");
    let picture = |n: &str| call("GET", format!("{}/picture{n}", page(&staging, &staged_person)), "", Vec::new());
    assert_eq!(picture("").await??.0, 200, "the first picture");
    assert_eq!(picture("?n=0").await??.0, 200, "the first picture by number");
    assert_eq!(picture("?n=1").await??.0, 404, "one picture only");
    assert_eq!(picture("?n=-1").await??.0, 400);
    eventually(Duration::from_secs(20), "Biden's matches under his new name", || async {
        let biden = DetectionEvent { event_id: uuid::Uuid::new_v4().to_string(), ..biden.clone() };
        produce(&producer, &test.input, "cam-1", &biden.encode_to_vec()).await?;
        let events = read(&consumer, &KeyReader::new(test.db.pool.clone())?, 1).await?;
        let best = events.get(&biden.event_id).and_then(|e| e.matches.first()).map(|m| m.person_display_name.clone());
        Ok((best.as_deref() == Some("Joseph R. Biden")).then_some(()))
    })
    .await?;

    eventually(Duration::from_secs(10), "/readyz ready again", || async {
        Ok((enrich.get("/readyz")?.0 == 200).then_some(()))
    })
    .await?;
    assert!(enrich.metric("sightline_enrich_watchlist_reloads_total")? >= 2.0);
    assert_eq!(enrich.metric("sightline_enrich_watchlist_index_age_seconds")?, 0.0);
    assert!(enrich.terminate(Duration::from_secs(30)));
    drop(keeper);
    test.db.remove().await?;
    Ok(())
}

/// Body of a JSON answer, or a panic naming what came back.
fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_face_search_finds_the_person_photographed_and_no_stranger() -> anyhow::Result<()> {
    let test = EnrichTest::new("facesearch", 1).await?;
    let files = files();
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let pool = &test.db.pool;
    sightline_common::auth::register(pool, "ann-analyst", "analyst-secret", Role::Analyst).await?;
    sightline_common::auth::register(pool, "vic-viewer", "viewer-secret", Role::Viewer).await?;
    sightline_common::auth::register(pool, "ada-admin", "admin-secret", Role::Admin).await?;

    // Obama from two photos on two cameras, Biden and a stranger: each detection sent twice.
    let obama2 = detection(&mut detector, &photo("obama2.jpg"), "cam-1");
    let obama3 = detection(&mut detector, &photo("obama3.jpg"), "cam-2");
    let biden = detection(&mut detector, &photo("biden.jpg"), "cam-1");
    let stranger = detection(&mut detector, &photo("astronaut.png"), "cam-2");
    let detections = [&obama2, &obama3, &biden, &stranger];
    let messages: Vec<(String, Vec<u8>)> =
        detections.iter().chain(&detections).map(|d| (d.stream_id.clone(), d.encode_to_vec())).collect();
    produce_raw(&stack::kafka(), &test.input, &messages).await?;
    let enrich = test.start(stack::free_port()?, &[])?;
    let clickhouse = stack::clickhouse(&test.iso.database);
    let writer = ServiceProcess::writer(&test.iso, &clickhouse, &[], &[("POSTGRES_URL", &test.db.url)])?;
    eventually(Duration::from_secs(120), "the 4 enriched events landed", || async {
        Ok((event_counts(&clickhouse).await?.0 == 4).then_some(()))
    })
    .await?;

    let port = stack::free_port()?;
    let mut settings = stack::api_settings(port, &test.db.url, &clickhouse);
    settings.extend([("MODELS_DIR", files.dir.display().to_string())]);
    let query = ServiceProcess::start("sightline-query", "QUERY", "METRICS_ADDR", &[], &settings, &test.iso.group)?;
    query.wait_ready(Duration::from_secs(60), "the query service to be ready").await?;
    let search = move |query: String, token: &'static str, photo: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            stack::http_request(port, "POST", &format!("/v1/search/faces?{query}"), Some(token), "image/jpeg", &photo)
        })
    };
    let range = "from=1794990000000&to=1795010000000";
    let obama = std::fs::read(files.dir.join("images/obama.jpg"))?;

    // From a photo none of the events was made from: Obama's two tracks, each once, best shot linked.
    let (status, body) = search(range.into(), "analyst-secret", obama.clone()).await??;
    assert_eq!(status, 200, "{body}");
    let found = json(&body);
    let tracks = found["tracks"].as_array().expect("tracks");
    let found_tracks: std::collections::BTreeSet<&str> = tracks.iter().filter_map(|t| t["track_id"].as_str()).collect();
    let obama_tracks: std::collections::BTreeSet<&str> = [&obama2, &obama3].map(|d| d.track_id.as_str()).into();
    assert_eq!(found_tracks, obama_tracks, "Obama's tracks and no one else's: {body}");
    // Similarities are exact: the stored descriptor against the photo's, described here.
    let describer = std::sync::Arc::new(std::sync::Mutex::new(FaceDescriptor::new(
        &environment,
        &files.descriptor_model(),
        DescriptorSettings { threads: 1, max_batch: 1 },
    )?));
    let detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let query_face = PhotoDescriber::new(detector, describer, 8.0, 40_000_000).describe(&obama)?;
    for track in tracks {
        let similarity = track["similarity"].as_f64().expect("similarity");
        assert!((0.5..=1.0).contains(&similarity), "{track}");
        let stored: Vec<f32> = clickhouse
            .read_client()
            .query("SELECT descriptor FROM events WHERE event_id = toUUID(?) LIMIT 1")
            .bind(track["event_id"].as_str().expect("event id"))
            .fetch_one()
            .await?;
        let exact = f64::from(sightline_vision::descriptor::similarity(&query_face, &stored));
        assert!((similarity - exact).abs() < 1e-5, "{similarity} returned, {exact} exact: {track}");
        assert_eq!(track["sightings"], 1, "copies of a report count once: {track}");
        let best_shot = track["best_shot_url"].as_str().expect("a best shot");
        let (status, _) = stack::call(port, "GET", best_shot, "analyst-secret", None)?;
        assert_eq!(status, 200, "{best_shot}");
    }
    let (best, second) = (tracks[0]["similarity"].as_f64().expect("s"), tracks[1]["similarity"].as_f64().expect("s"));
    assert!(best > second, "best first: {body}");

    // A threshold between the two: only the better track.
    let between = (best + second) / 2.0;
    let (status, body) = search(format!("{range}&threshold={between}"), "analyst-secret", obama.clone()).await??;
    assert_eq!(status, 200, "{body}");
    let tracks_between = json(&body)["tracks"].as_array().cloned().expect("tracks");
    assert_eq!(tracks_between.len(), 1, "{body}");
    assert_eq!(tracks_between[0]["track_id"], tracks[0]["track_id"]);

    // From the face of a stored event: that event first (identical descriptor), then the other photo.
    let obama2_event = enriched_event_id(&obama2.event_id).to_string();
    let (status, body) = search(format!("{range}&event={obama2_event}"), "analyst-secret", vec![]).await??;
    assert_eq!(status, 200, "{body}");
    let tracks = json(&body)["tracks"].as_array().cloned().expect("tracks");
    assert_eq!(tracks.len(), 2, "{body}");
    assert_eq!(tracks[0]["event_id"], obama2_event.as_str());
    assert!(tracks[0]["similarity"].as_f64().expect("similarity") > 0.999, "{body}");

    // A stricter threshold than any two photos of one person reach: nothing.
    let (status, body) = search(format!("{range}&threshold=0.95"), "analyst-secret", obama.clone()).await??;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["tracks"], serde_json::json!([]), "{body}");

    // Refusals: a viewer, no face, no photo, an unknown event, a bad threshold.
    let (status, _) = search(range.into(), "viewer-secret", obama.clone()).await??;
    assert_eq!(status, 403, "viewers may not search by face");
    let coffee = std::fs::read(files.dir.join("images/coffee.png"))?;
    let (status, body) = search(range.into(), "analyst-secret", coffee).await??;
    assert_eq!((status, body.contains("no face")), (422, true), "{body}");
    let (status, body) = search(range.into(), "analyst-secret", vec![]).await??;
    assert_eq!((status, body.contains("photo")), (400, true), "{body}");
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = search(format!("{range}&event={unknown}"), "analyst-secret", vec![]).await??;
    assert_eq!(status, 404, "{body}");
    let (status, body) = search(format!("{range}&threshold=0.1"), "analyst-secret", obama.clone()).await??;
    assert_eq!((status, body.contains("threshold")), (400, true), "{body}");

    // The audit trail: the searches that ran (the refused ones did not), who made them, with what
    // face; admins only.
    let (status, _) = stack::call(port, "GET", "/v1/audit/face-searches", "analyst-secret", None)?;
    assert_eq!(status, 403, "analysts do not read the audit trail");
    let (status, body) = stack::call(port, "GET", "/v1/audit/face-searches?limit=10", "admin-secret", None)?;
    assert_eq!(status, 200, "{body}");
    let records = body["searches"].as_array().cloned().expect("searches");
    let photo_sha256: String = sha2::Sha256::digest(&obama).iter().map(|b| format!("{b:02x}")).collect();
    let summary: Vec<AuditSummary> = records
        .iter()
        .map(|r| {
            (
                r["token_name"].as_str().unwrap_or("").to_owned(),
                r["photo_sha256"].as_str().map(str::to_owned),
                r["event_id"].as_str().map(str::to_owned),
                r["tracks_found"].as_i64(),
            )
        })
        .collect();
    let analyst = "ann-analyst".to_owned();
    assert_eq!(
        summary,
        vec![
            (analyst.clone(), Some(photo_sha256.clone()), None, Some(0)),
            (analyst.clone(), None, Some(obama2_event.clone()), Some(2)),
            (analyst.clone(), Some(photo_sha256.clone()), None, Some(1)),
            (analyst, Some(photo_sha256), None, Some(2)),
        ],
        "newest first: {body}"
    );
    let newest = &records[0];
    assert!(newest["threshold"].as_f64().is_some_and(|t| (t - 0.95).abs() < 1e-6), "its scope: {newest}");
    assert!(newest["from_ms"].as_i64() > Some(0) && newest["to_ms"].as_i64() > newest["from_ms"].as_i64());
    assert_eq!((newest["outcome"].as_str(), newest["via"].as_str()), (Some("done"), Some("token")), "{newest}");
    // The same searches in the audit log, with what face and how many tracks.
    let (status, body) = stack::call(port, "GET", "/v1/audit?action=search", "admin-secret", None)?;
    assert_eq!(status, 200, "{body}");
    let logged: Vec<(String, i64)> = body["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["subject"].as_str().unwrap_or("").to_owned(), r["count"].as_i64().unwrap_or(-1)))
        .collect();
    let wanted: Vec<(String, i64)> = summary
        .iter()
        .map(|(_, photo, event, found)| {
            let subject = match (photo, event) {
                (Some(photo), _) => format!("photo {photo}"),
                (None, event) => format!("event {}", event.clone().unwrap_or_default()),
            };
            (subject, found.unwrap_or(-1))
        })
        .collect();
    assert_eq!(logged, wanted, "{body}");

    assert!(query.terminate(Duration::from_secs(30)));
    assert!(enrich.terminate(Duration::from_secs(30)));
    assert!(writer.terminate(Duration::from_secs(30)));
    test.db.remove().await?;
    Ok(())
}

/// An audit record as the test compares it: token name, photo SHA-256, event id, tracks found.
type AuditSummary = (String, Option<String>, Option<String>, Option<i64>);
