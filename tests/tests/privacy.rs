//! Crypto-shredding end to end (docs/privacy.md, section 3), every service a process on the real
//! stack: the test video through ingest on two cameras, enrich, the writer, the notifier (a rule
//! with a webhook) and the scheduler (a CSV report by mail), two of its people on a watchlist.
//!
//! On the wire no best shot, descriptor or name is readable: the raw bytes of the detections, events
//! and alerts topics, read with a plain Kafka consumer, hold no JPEG and no listed person's name.
//! Then an admin finds one listed person by a photo (a face search) and erases them with their
//! enrolment through the query API (preview, then the erasure and its receipt): their keys, alerts
//! (and deliveries) and enrolment are gone from PostgreSQL, their best shots, descriptors and names
//! from the warehouse and from every answer (events, face search, CSV export, the next scheduled
//! CSV report, the alert desk); a new
//! writer group replaying the whole topic into a fresh warehouse (what `writer rebuild` reads back)
//! lands those tracks' times and boxes but none of their best shots, descriptors or matches, and
//! enrich replaying the detections describes none of their faces, while the other listed person
//! keeps everything. A poison copy of one of their events, dead-lettered by the writer as it came,
//! opens to their name before the erasure and stays shut after it.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::json;
use sightline_common::auth::Role;
use sightline_common::objects::{MediaKind, ObjectStore};
use sightline_common::warehouse::ClickHouseSettings;
use sightline_schemas::v1::{AlertEvent, DetectionEvent, EnrichedEvent, ObjectKind};
use sightline_testkit::pipeline::{ANALYST, OPERATOR, PipelineOptions, VideoPipeline, call};
use sightline_testkit::stack::{self, Isolation, KeyReader, ServiceProcess, eventually};
use std::collections::BTreeSet;
use std::time::Duration;

/// Listed people and their enrolment photos; the video's third person is a stranger.
const LISTED: [(&str, &str); 2] = [("obama", "obama2.jpg"), ("biden", "biden.jpg")];
/// The listed person erased.
const ERASED: &str = "obama";
/// The listed person kept.
const KEPT: &str = "biden";

/// Every payload of `topic` from its start, until none came for 5 s.
async fn raw_payloads(topic: &str, group: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut config = stack::kafka().client_config();
    config.set("group.id", group).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let mut payloads = Vec::new();
    while let Ok(message) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
        payloads.push(message?.payload().unwrap_or_default().to_vec());
    }
    Ok(payloads)
}

/// The object-store keys of the best shots of `tracks` (`stream_id/track_id`) in the warehouse.
async fn image_keys(client: &clickhouse::Client, tracks: &[String]) -> anyhow::Result<Vec<String>> {
    let sql = "SELECT DISTINCT object_key FROM best_shot_jpegs WHERE object_key != '' AND event_id IN \
               (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)))";
    Ok(client.query(sql).bind(tracks).fetch_all().await?)
}

/// The clips of `tracks` (`stream_id/track_id`): the init segments of their folders, one per clip.
async fn clip_keys(client: &clickhouse::Client, tracks: &[String]) -> anyhow::Result<Vec<String>> {
    let sql = "SELECT DISTINCT concat(clip_key, '/init.mp4') FROM tracks WHERE clip_key != '' AND \
               has(?, concat(stream_id, '/', track_id))";
    Ok(client.query(sql).bind(tracks).fetch_all().await?)
}

/// How many of `keys` the object store holds.
async fn stored(store: &ObjectStore, keys: &[String]) -> anyhow::Result<usize> {
    let mut held = 0;
    for key in keys {
        held += usize::from(store.get(key).await?.is_some());
    }
    Ok(held)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The privacy officer's token.
const ADMIN: &str = "privacy-officer-secret";

/// A writer in a group of its own replaying the pipeline's whole events topic into a fresh
/// warehouse (what `writer rebuild` reads back), once it landed `events` visible events: the writer
/// (for its metrics) and the warehouse.
async fn replay_into_a_fresh_warehouse(
    pipeline: &VideoPipeline,
    events: u64,
) -> anyhow::Result<(ServiceProcess, ClickHouseSettings)> {
    let rebuild = Isolation {
        group: format!("{}-rebuild", pipeline.iso.group),
        database: format!("{}_rebuild", pipeline.iso.database),
        ..pipeline.iso.clone()
    };
    let rebuilt = stack::clickhouse(&rebuild.database);
    let writer = ServiceProcess::writer(&rebuild, &rebuilt, &[], &[("POSTGRES_URL", &pipeline.db.url)])?;
    eventually(Duration::from_secs(120), "the replay landed every event", || async {
        Ok((stack::event_counts(&rebuilt).await.map(|c| c.0).unwrap_or(0) >= events).then_some(()))
    })
    .await?;
    Ok((writer, rebuilt))
}

/// The JPEG start-of-image marker every best shot begins with.
const JPEG_START: [u8; 3] = [0xff, 0xd8, 0xff];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_stays_erased_across_a_rebuild_and_a_replay() -> anyhow::Result<()> {
    let mut pipeline = VideoPipeline::start(PipelineOptions {
        name: "privacy",
        listed: LISTED.to_vec(),
        cooldown_secs: 300,
        mail_to: None,
        warehouse: true,
    })
    .await?;
    pipeline.start_ingest(&[]).await?;
    let cameras = [pipeline.add_camera("Door")?, pipeline.add_camera("Lobby")?];
    let clickhouse = stack::clickhouse(&pipeline.iso.database);
    let client = clickhouse.read_client();
    let matched = |name: &'static str| {
        let client = client.clone();
        async move {
            let sql = "SELECT DISTINCT stream_id, track_id FROM events \
                       WHERE event_id IN (SELECT event_id FROM matches WHERE person_display_name = ?)";
            anyhow::Ok(client.query(sql).bind(name).fetch_all::<(String, String)>().await?)
        }
    };
    // Both listed people matched on both cameras, and the video's passes ended (every face track
    // ended).
    let people = pipeline.truth.people.len() as u64;
    let streams = |tracks: Vec<(String, String)>| tracks.into_iter().map(|(s, _)| s).collect::<BTreeSet<_>>().len();
    eventually(
        Duration::from_secs(300),
        "both listed people matched on both cameras, every face track ended",
        || async {
            let ended: u64 =
                client.query("SELECT count() FROM tracks FINAL WHERE kind = 'face' AND ended = 1").fetch_one().await?;
            let both = streams(matched(ERASED).await?) == 2 && streams(matched(KEPT).await?) == 2;
            Ok((ended >= 2 * people && both).then_some(()))
        },
    )
    .await?;
    for camera in &cameras {
        pipeline.remove_camera(camera)?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // the last reports land

    // On the wire: no JPEG in any detection or event, no listed name in any event; every best shot
    // and descriptor travels sealed.
    let detections = raw_payloads(&pipeline.detections, &format!("{}-raw-d", pipeline.iso.group)).await?;
    let events = raw_payloads(&pipeline.iso.topic, &format!("{}-raw-e", pipeline.iso.group)).await?;
    let alerts = raw_payloads(&pipeline.alerts_topic, &format!("{}-raw-a", pipeline.iso.group)).await?;
    assert!(!detections.is_empty() && !events.is_empty() && alerts.len() >= LISTED.len());
    for payload in detections.iter().chain(&events) {
        assert!(!contains(payload, &JPEG_START), "a best shot in clear on the wire");
    }
    for payload in events.iter().chain(&alerts) {
        for (name, _) in LISTED {
            assert!(!contains(payload, name.as_bytes()), "{name}'s name in clear on the wire");
        }
    }
    let decoded: Vec<EnrichedEvent> =
        events.iter().map(|p| EnrichedEvent::decode(p.as_slice())).collect::<Result<_, _>>()?;
    let described = decoded.iter().filter(|e| e.sealed.is_some()).count();
    assert!(described > 0 && decoded.iter().all(|e| e.descriptor.is_none() && e.matches.is_empty()));
    let sealed_shots = detections
        .iter()
        .map(|p| DetectionEvent::decode(p.as_slice()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|d| d.sealed.is_some() && d.best_shot_jpeg.is_none())
        .count();
    assert!(sealed_shots > 0, "best shots travel sealed");

    // A poison copy of one of the person's events (its schema version zeroed) goes to the
    // dead-letter topic as it came, sealed fields and all: there it opens to their name, for now.
    let reader = KeyReader::new(pipeline.db.pool.clone())?;
    let mut poison = None;
    for event in &decoded {
        let mut opened = event.clone();
        reader.open_enriched(&mut opened).await?;
        if opened.matches.iter().any(|m| m.person_display_name == ERASED) {
            poison = Some(EnrichedEvent { schema_version: 0, ..event.clone() });
            break;
        }
    }
    let poison = poison.expect("an event of the person to erase");
    sightline_testkit::loadgen::produce_events(&stack::kafka(), &pipeline.iso.topic, [poison.clone()], None).await?;
    let dead_letters = eventually(Duration::from_secs(60), "the poison event in the dead-letter topic", || async {
        let group = format!("{}-raw-dlq-{}", pipeline.iso.group, uuid::Uuid::new_v4().simple());
        let payloads = raw_payloads(&pipeline.iso.dlq_topic, &group).await?;
        Ok(payloads
            .into_iter()
            .find(|p| EnrichedEvent::decode(p.as_slice()).is_ok_and(|e| e.event_id == poison.event_id)))
    })
    .await?;
    let mut dead_letter = EnrichedEvent::decode(dead_letters.as_slice())?;
    reader.open_enriched(&mut dead_letter).await?;
    assert!(dead_letter.matches.iter().any(|m| m.person_display_name == ERASED), "the dead letter opens before");
    assert!(!contains(&dead_letters, ERASED.as_bytes()), "no name in clear in the dead-letter topic");

    // Every look at a face is recorded before the image is served: an analyst opens a best shot of
    // the kept person's and the best shot of their alert, each twice (the second time, within the
    // window, is the same look), and the audit log holds one record of each.
    let pool = &pipeline.db.pool;
    let query_port = pipeline.query_port.expect("the query API");
    let sql = "SELECT toString(event_id) FROM best_shot_jpegs \
               WHERE event_id IN (SELECT event_id FROM matches WHERE person_display_name = ?) LIMIT 1";
    let shot: String = client.query(sql).bind(KEPT).fetch_one().await?;
    let alert: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM alerts WHERE person_display_name = $1 AND best_shot_key IS NOT NULL LIMIT 1",
    )
    .bind(KEPT)
    .fetch_one(pool)
    .await?;
    for _ in 0..2 {
        let looks = [
            (query_port, format!("/v1/events/{shot}/best-shot")),
            (pipeline.notifier_port, format!("/v1/alerts/{alert}/best-shot")),
        ];
        for (port, path) in looks {
            let response = stack::http_exchange(port, "GET", &path, Some(ANALYST), "", b"")?;
            assert_eq!(response.status, 200, "{path}");
            assert!(response.body.starts_with(&[0xff, 0xd8]), "{path} serves a JPEG");
        }
    }
    // The warehouse keeps the best shots' keys, no bytes; the object store keeps them sealed (opened
    // per read above): none of the stored objects is a JPEG.
    let (rows, with_bytes, sealed_objects): (u64, u64, u64) = client
        .query("SELECT count(), countIf(notEmpty(jpeg) OR notEmpty(sealed)), countIf(object_key != '' AND object_sealed = 1) FROM best_shot_jpegs")
        .fetch_one()
        .await?;
    assert!(
        rows > 0 && with_bytes == 0 && sealed_objects == rows,
        "{rows} best shots, {with_bytes} with bytes, {sealed_objects} sealed objects"
    );
    let store = stack::object_store(&clickhouse.database)?;
    let objects = store.list("best-shots/").await?;
    assert!(objects.len() as u64 >= rows / 2, "{} objects for {rows} rows", objects.len());
    for key in objects.iter().take(50) {
        let bytes = store.get(key).await?.expect("a listed object");
        assert!(!bytes.starts_with(&[0xff, 0xd8, 0xff]), "{key} is a JPEG in clear");
    }
    let looks: Vec<(String, String, String, Option<i64>)> =
        sqlx::query_as("SELECT action, subject, role, count FROM audit_log WHERE action LIKE 'image.%' ORDER BY id")
            .fetch_all(pool)
            .await?;
    let expected_looks = vec![
        ("image.best_shot".to_owned(), shot.clone(), "analyst".to_owned(), Some(1)),
        ("image.alert_best_shot".to_owned(), alert.to_string(), "analyst".to_owned(), Some(1)),
    ];
    assert_eq!(looks, expected_looks, "one record per look at a face");

    // The alert desk and the rule's webhook had the person's alert.
    let desk = |token: &'static str| call(pipeline.notifier_port, "GET", "/v1/alerts?limit=100", token, None);
    let (status, alerts_listed) = desk(ANALYST)?;
    assert!(status == 200 && alerts_listed.to_string().contains(ERASED), "{alerts_listed}");
    let hooked = pipeline.receiver.all();
    assert!(hooked.iter().any(|h| h.body.to_string().contains(ERASED)), "the webhook carried the alert");

    // A scheduled CSV report, sent now: it names both listed people.
    let scheduler_port = stack::free_port()?;
    let mut settings = stack::api_settings(scheduler_port, &pipeline.db.url, &clickhouse);
    settings.extend(stack::smtp_sink()?);
    let group = format!("{}-scheduler", pipeline.iso.group);
    let _scheduler = ServiceProcess::start("sightline-scheduler", "SCHEDULER", "METRICS_ADDR", &[], &settings, &group)?;
    sightline_testkit::pipeline::answering(scheduler_port, "/v1/schedules", OPERATOR).await?;
    let report_to = format!("dpo-{}@example.com", pipeline.iso.group);
    let schedule = json!({"name": "Door report", "cron": "0 0 6 * * *", "format": "csv", "range_hours": 2,
                          "recipients": [report_to]});
    let (status, created) = call(scheduler_port, "POST", "/v1/schedules", OPERATOR, Some(schedule))?;
    assert_eq!(status, 201, "{created}");
    let send_now = format!("/v1/schedules/{}/run", created["id"].as_str().expect("id"));
    let reports = |count: usize| {
        let report_to = report_to.clone();
        eventually(Duration::from_secs(60), "the scheduled CSV", move || {
            let report_to = report_to.clone();
            async move {
                let mails = sightline_testkit::mail::attachments_to(&report_to)?;
                let csvs: Vec<String> =
                    mails.into_iter().map(|m| String::from_utf8_lossy(&m.attachment).into_owned()).collect();
                Ok((csvs.len() >= count).then_some(csvs))
            }
        })
    };
    assert_eq!(call(scheduler_port, "POST", &send_now, OPERATOR, None)?.0, 202);
    let first_report = reports(1).await?;
    assert!(first_report[0].contains(ERASED) && first_report[0].contains(KEPT), "{}", first_report[0]);

    // An admin finds the person by a photo (not the enrolled one): the face search's tracks.
    let photo = std::fs::read(std::path::Path::new(&std::env::var("SIGHTLINE_MODELS_DIR")?).join("images/obama.jpg"))?;
    let now = sightline_common::clock::now_ms();
    let search_path = format!("/v1/search/faces?from={}&to={}", now - 3_600_000, now + 60_000);
    let search = |token: &'static str| {
        stack::http_request(query_port, "POST", &search_path, Some(token), "image/jpeg", &photo)
            .map(|(status, body)| (status, serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()))
    };
    sightline_common::auth::register(pool, "privacy-officer", ADMIN, Role::Admin).await?;
    let (status, found) = search(ADMIN)?;
    assert_eq!(status, 200, "{found}");
    let by_photo: BTreeSet<(String, String)> = found["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| (t["stream_id"].as_str().unwrap_or("").to_owned(), t["track_id"].as_str().unwrap_or("").to_owned()))
        .collect();
    let faces = matched(ERASED).await?;
    assert!(faces.iter().all(|face| by_photo.contains(face)), "the photo finds every track of theirs: {found}");

    // The admin erases what the photo found, with the person's enrolment: the preview counts what
    // will go, per store, then the erasure answers the same counts as its receipt. It covers their
    // face tracks on both cameras and the bodies those faces were part of.
    let mut expected: BTreeSet<(String, String)> = faces.iter().cloned().collect();
    for (stream_id, track_id) in &faces {
        let sql = "SELECT DISTINCT parent_track_id FROM events WHERE stream_id = ? AND track_id = ? AND parent_track_id != ''";
        for parent in client.query(sql).bind(stream_id).bind(track_id).fetch_all::<String>().await? {
            expected.insert((stream_id.clone(), parent));
        }
    }
    let person: uuid::Uuid = sqlx::query_scalar("SELECT id FROM watchlist_persons WHERE display_name = $1")
        .bind(ERASED)
        .fetch_one(pool)
        .await?;
    let tracks: Vec<String> = by_photo.iter().map(|(s, t)| format!("{s}/{t}")).collect();
    let their_alerts: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM alerts WHERE person_display_name = $1").bind(ERASED).fetch_all(pool).await?;
    let deliveries = |alerts: Vec<uuid::Uuid>| async move {
        let sql = "SELECT count(*) FROM alert_deliveries WHERE alert_id = ANY($1) AND channel = 'webhook'";
        anyhow::Ok(sqlx::query_scalar::<_, i64>(sql).bind(alerts).fetch_one(pool).await?)
    };
    assert!(deliveries(their_alerts.clone()).await? > 0, "their alert's webhook delivery is recorded");
    // Their alerts' images (best shots and scenes) are in the object store, named by the alerts.
    let alert_images: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM (SELECT best_shot_key AS key FROM alerts WHERE id = ANY($1) \
         UNION ALL SELECT object_key FROM alert_scenes WHERE alert_id = ANY($1)) AS images WHERE key IS NOT NULL",
    )
    .bind(&their_alerts)
    .fetch_all(pool)
    .await?;
    assert!(!alert_images.is_empty(), "their alerts name their images");
    assert_eq!(stored(&store, &alert_images).await?, alert_images.len());
    let their_pictures = format!("pictures/{}/{person}/", pipeline.list_id);
    assert!(!store.list(&their_pictures).await?.is_empty(), "their enrolment pictures are stored");
    let request = json!({"person_id": person, "tracks": tracks, "reason": "data subject request 2026-117"});
    let (status, preview) = call(query_port, "POST", "/v1/privacy/erasures/preview", ADMIN, Some(request.clone()))?;
    assert_eq!(status, 200, "{preview}");
    let covered: Vec<String> =
        preview["tracks"].as_array().expect("tracks").iter().filter_map(|t| Some(t.as_str()?.to_owned())).collect();
    let their_images = image_keys(&client, &covered).await?;
    assert!(!their_images.is_empty(), "their best shots are in the object store");
    assert_eq!(stored(&store, &their_images).await?, their_images.len());
    let their_clips = clip_keys(&client, &covered).await?;
    assert!(!their_clips.is_empty(), "their tracks' clips are in the object store");
    assert_eq!(stored(&store, &their_clips).await?, their_clips.len());
    let (status, refused) = call(query_port, "POST", "/v1/privacy/erasures", ANALYST, Some(request.clone()))?;
    assert_eq!(status, 403, "an analyst cannot erase: {refused}");
    let (status, receipt) = call(query_port, "POST", "/v1/privacy/erasures", ADMIN, Some(request))?;
    assert_eq!(status, 200, "{receipt}");
    let erased: BTreeSet<(String, String)> = receipt["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .filter_map(|t| t.as_str()?.split_once('/').map(|(s, t)| (s.to_owned(), t.to_owned())))
        .collect();
    assert!(expected.is_subset(&erased), "the person's face tracks and their bodies: {expected:?} in {erased:?}");
    assert!(by_photo.is_subset(&erased), "what the photo found: {by_photo:?} in {erased:?}");
    assert!(erased.len() >= 3 && streams(erased.iter().cloned().collect()) == 2, "tracks on both cameras: {erased:?}");
    let counts = &receipt["counts"];
    assert_eq!(counts, &preview["counts"], "the receipt counts what the preview said");
    assert_eq!(counts["tracks"].as_u64(), Some(erased.len() as u64));
    assert_eq!(counts["enrolments"].as_u64(), Some(1));
    assert!(counts["keys"].as_u64() >= Some(faces.len() as u64 * 2), "an image and a template key per face: {counts}");
    for store in ["events", "descriptors", "best_shots", "matches", "alerts"] {
        assert!(counts[store].as_u64() > Some(0), "{store}: {counts}");
    }
    let receipt_id = receipt["receipt_id"].as_i64().expect("a receipt");
    let (action, subject): (String, String) =
        sqlx::query_as("SELECT action, subject FROM audit_log WHERE id = $1").bind(receipt_id).fetch_one(pool).await?;
    assert_eq!((action.as_str(), subject), ("privacy.erasure", format!("person {person}")));

    // PostgreSQL: no key, alert or enrolment of theirs is left; the other person's are.
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM track_keys WHERE stream_id || '/' || track_id = ANY($1)), \
         (SELECT count(*) FROM alerts WHERE person_display_name = $2), \
         (SELECT count(*) FROM watchlist_persons WHERE display_name = $2)",
    )
    .bind(erased.iter().map(|(s, t)| format!("{s}/{t}")).collect::<Vec<_>>())
    .bind(ERASED)
    .fetch_one(pool)
    .await?;
    assert_eq!(left, (0, 0, 0), "keys, alerts, enrolments of the erased person");
    assert_eq!(deliveries(their_alerts).await?, 0, "their alerts' deliveries");
    let kept_alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts WHERE person_display_name = $1")
        .bind(KEPT)
        .fetch_one(pool)
        .await?;
    assert!(kept_alerts > 0);

    // The warehouse as analysts read it: once the mutations ran, no best shot, descriptor or name of
    // theirs; the API's events name the other person only.
    eventually(Duration::from_secs(60), "the warehouse's copies deleted", || async {
        let names: u64 =
            client.query("SELECT count() FROM matches WHERE person_display_name = ?").bind(ERASED).fetch_one().await?;
        let tracks: Vec<String> = erased.iter().map(|(s, t)| format!("{s}/{t}")).collect();
        let sql = "SELECT count() FROM best_shot_jpegs WHERE event_id IN \
                   (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)))";
        let shots: u64 = client.query(sql).bind(&tracks).fetch_one().await?;
        let sql = "SELECT countIf(notEmpty(descriptor)) FROM events WHERE has(?, concat(stream_id, '/', track_id))";
        let described: u64 = client.query(sql).bind(&tracks).fetch_one().await?;
        Ok((names + shots + described == 0).then_some(()))
    })
    .await?;
    assert_eq!(stored(&store, &their_images).await?, 0, "their best shots are gone from the object store");
    assert_eq!(stored(&store, &alert_images).await?, 0, "their alerts' images are gone from the object store");
    assert_eq!(stored(&store, &their_clips).await?, 0, "their tracks' clips are gone from the object store");
    assert!(!store.list("clips/").await?.is_empty(), "the other tracks' clips are kept");
    assert!(store.list(&their_pictures).await?.is_empty(), "their enrolment pictures are gone from it");
    assert!(!store.list("best-shots/").await?.is_empty(), "the other person's are kept");
    let (status, listed) = call(query_port, "GET", "/v1/events?limit=500", ANALYST, None)?;
    assert_eq!(status, 200);
    let listed = listed.to_string();
    assert!(!listed.contains(ERASED) && listed.contains(KEPT), "the events list names only the kept person");
    // So does the next scheduled CSV (the one sent before is the recipient's).
    assert_eq!(call(scheduler_port, "POST", &send_now, OPERATOR, None)?.0, 202);
    let both = reports(2).await?;
    assert_eq!(both.iter().filter(|csv| csv.contains(ERASED)).count(), 1, "only the report sent before names them");
    assert!(both.iter().all(|csv| csv.contains(KEPT)), "both reports name the kept person");
    // So do the CSV export and the alert desk; the photo finds none of their tracks any more.
    let (status, csv) = stack::http_request(query_port, "GET", "/v1/reports/events.csv", Some(ANALYST), "", b"")?;
    assert!(status == 200 && !csv.contains(ERASED) && csv.contains(KEPT), "the CSV names only the kept person");
    let (status, alerts_listed) = desk(ANALYST)?;
    let alerts_listed = alerts_listed.to_string();
    assert!(status == 200 && !alerts_listed.contains(ERASED) && alerts_listed.contains(KEPT), "{alerts_listed}");
    let (status, found) = search(ANALYST)?;
    assert_eq!(status, 200, "{found}");
    let found_again = found["tracks"].as_array().expect("tracks").iter().any(|t| {
        erased.contains(&(
            t["stream_id"].as_str().unwrap_or("").to_owned(),
            t["track_id"].as_str().unwrap_or("").to_owned(),
        ))
    });
    assert!(!found_again, "the photo still finds an erased track: {found}");

    // Their raw events no longer open; the other person's do.
    let keys = KeyReader::new(pool.clone())?;
    let (mut erased_parts, mut kept_names) = (0, 0);
    for mut event in decoded.clone() {
        let detection = event.detection.clone().expect("detection");
        let opening = keys.open_enriched(&mut event).await?;
        if erased.contains(&(detection.stream_id.clone(), detection.track_id.clone())) {
            assert_eq!(opening.erased, opening.sealed, "every sealed part of an erased track stays shut");
            assert!(
                event.descriptor.is_none()
                    && event.matches.is_empty()
                    && event.detection.unwrap().best_shot_jpeg.is_none()
            );
            erased_parts += opening.erased;
        } else {
            assert_eq!(opening.erased, 0);
            kept_names += event.matches.iter().filter(|m| m.person_display_name == KEPT).count();
        }
    }
    assert!(erased_parts > 0 && kept_names > 0, "erased parts {erased_parts}, {KEPT}'s matches {kept_names}");
    // So does their copy in the dead-letter topic.
    let mut dead_letter = EnrichedEvent::decode(dead_letters.as_slice())?;
    let opening = keys.open_enriched(&mut dead_letter).await?;
    assert!(opening.sealed > 0 && opening.erased == opening.sealed, "the dead letter stays shut: {opening:?}");
    assert!(dead_letter.matches.is_empty() && dead_letter.descriptor.is_none());
    // So do their alerts on the alerts topic: the match is sealed with the event's template key.
    let mut alerted = BTreeSet::new();
    for payload in &alerts {
        let mut alert = AlertEvent::decode(payload.as_slice())?;
        let identity = alert.r#match.clone().expect("a match");
        assert!(alert.sealed.is_some() && identity.person_display_name.is_empty() && !identity.person_id.is_empty());
        let opening = keys.open_alert(&mut alert).await?;
        match alert.r#match {
            Some(opened) => alerted.insert(opened.person_display_name),
            None => alerted.insert(format!("erased:{}", opening.erased)),
        };
    }
    assert_eq!(
        alerted,
        [KEPT.to_owned(), "erased:1".to_owned()].into(),
        "the kept person's alert opens, the other's not"
    );

    // A new writer group replays the whole topic into a fresh warehouse, as a rebuild does.
    let (original, _) = stack::event_counts(&clickhouse).await?;
    let (writer, rebuilt) = replay_into_a_fresh_warehouse(&pipeline, original).await?;
    assert!(writer.metric("sightline_writer_erased_fields_total")? >= erased_parts as f64);
    let rebuilt_client = rebuilt.read_client();
    for (stream_id, track_id) in &erased {
        let (rows, described, shots): (u64, u64, u64) = rebuilt_client
            .query("SELECT count(), countIf(notEmpty(descriptor)), countIf(has_best_shot = 1) FROM events FINAL WHERE stream_id = ? AND track_id = ?")
            .bind(stream_id)
            .bind(track_id)
            .fetch_one()
            .await?;
        assert!(rows > 0, "the track's metadata still counts");
        assert_eq!((described, shots), (0, 0), "track {track_id}: no descriptor or best shot came back");
        for table in ["best_shot_jpegs", "matches", "face_descriptors"] {
            let sql = format!(
                "SELECT count() FROM {table} WHERE event_id IN (SELECT event_id FROM events WHERE stream_id = ? AND track_id = ?)"
            );
            let count: u64 = rebuilt_client.query(&sql).bind(stream_id).bind(track_id).fetch_one().await?;
            assert_eq!(count, 0, "{table} holds erased track {track_id}");
        }
    }
    for (table, column) in [
        ("matches", "person_display_name"),
        ("tracks", "best_person_display_name"),
        ("identified_tracks", "best_person_display_name"),
    ] {
        let count = |name: &'static str| {
            let sql = format!("SELECT count() FROM {table} WHERE {column} = ?");
            let client = rebuilt_client.clone();
            async move { anyhow::Ok(client.query(&sql).bind(name).fetch_one::<u64>().await?) }
        };
        assert_eq!(count(ERASED).await?, 0, "{table} names the erased person");
        assert!(count(KEPT).await? > 0, "{table} lost the other person");
    }
    let kept_shots: u64 = rebuilt_client
        .query("SELECT count() FROM best_shot_jpegs WHERE event_id IN (SELECT event_id FROM matches WHERE person_display_name = ?)")
        .bind(KEPT)
        .fetch_one()
        .await?;
    assert!(kept_shots > 0, "the other person's best shots are kept");
    let (counted, _) = stack::event_counts(&rebuilt).await?;
    assert_eq!(counted, original, "every event still counts");

    // Enrich replaying the detections in a group of its own describes none of the erased faces.
    let replayed = format!("{}.replayed", pipeline.iso.topic);
    let spec =
        sightline_common::kafka::TopicSpec { name: replayed.clone(), partitions: 3, replication: 1, retention_ms: -1 };
    sightline_common::kafka::ensure_topics(&stack::kafka(), &[spec]).await?;
    let [endpoint, prefix] = stack::object_settings(&pipeline.iso.database);
    let enrich_settings = [
        endpoint,
        prefix,
        ("KAFKA__BROKERS", stack::kafka().brokers),
        ("INPUT_TOPIC", pipeline.detections.clone()),
        ("OUTPUT_TOPIC", replayed.clone()),
        ("DLQ_TOPIC", pipeline.iso.dlq_topic.clone()),
        ("GROUP_ID", format!("{}-enrich-replay", pipeline.iso.group)),
        ("POSTGRES_URL", pipeline.db.url.clone()),
        ("MODELS_DIR", std::env::var("SIGHTLINE_MODELS_DIR")?),
        ("HTTP_ADDR", format!("127.0.0.1:{}", stack::free_port()?)),
    ];
    let group = format!("{}-enrich-replay", pipeline.iso.group);
    let _enrich = ServiceProcess::start("sightline-enrich", "ENRICH", "METRICS_ADDR", &[], &enrich_settings, &group)?;
    let again = eventually(Duration::from_secs(120), "enrich replayed every detection", || async {
        let payloads = raw_payloads(&replayed, &format!("{group}-reader-{}", uuid::Uuid::new_v4().simple())).await?;
        Ok((payloads.len() >= detections.len()).then_some(payloads))
    })
    .await?;
    let (mut erased_faces, mut kept_matches) = (0, 0);
    for payload in &again {
        let mut event = EnrichedEvent::decode(payload.as_slice())?;
        keys.open_enriched(&mut event).await?;
        let detection = event.detection.clone().expect("detection");
        if erased.contains(&(detection.stream_id.clone(), detection.track_id.clone())) {
            assert!(event.descriptor.is_none() && event.matches.is_empty(), "an erased face described again");
            if detection.kind == ObjectKind::Face as i32 {
                assert_eq!(event.descriptor_skip_reason, "erased");
                erased_faces += 1;
            }
        } else {
            kept_matches += event.matches.iter().filter(|m| m.person_display_name == KEPT).count();
        }
    }
    assert!(erased_faces > 0 && kept_matches > 0, "erased faces {erased_faces}, {KEPT}'s matches {kept_matches}");
    pipeline.remove().await
}

/// Retention with the shipped periods, on the test video recorded ten days ago (a file whose capture
/// times are on that timeline): an admin runs it now. The faces that matched no watchlist are past
/// their 7 days: their keys are destroyed and their best shots and descriptors leave the warehouse;
/// the listed people's faces (90 days) stay whole; every report and track still counts, and a replay
/// of the topic into a fresh warehouse agrees. An alert and an audit record dated past their periods
/// are deleted; the run is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_past_its_period_expires_from_every_store_while_counts_stay() -> anyhow::Result<()> {
    let mut pipeline = VideoPipeline::start(PipelineOptions {
        name: "retention",
        listed: LISTED.to_vec(),
        cooldown_secs: 300,
        mail_to: None,
        warehouse: true,
    })
    .await?;
    pipeline.start_ingest(&[("SOURCES__ALLOW_LOCAL_FILES", "true".to_owned())]).await?;
    let ten_days_ago = sightline_common::clock::now_ms() - 10 * 86_400_000;
    pipeline.add_recording("Yesterday's door", ten_days_ago)?;
    let clickhouse = stack::clickhouse(&pipeline.iso.database);
    let client = clickhouse.read_client();
    let people = pipeline.truth.people.len() as u64;
    // Face tracks as (matched, track), once the recording's faces all ended and both listed matched.
    let faces = || {
        let client = client.clone();
        async move {
            let sql = "SELECT best_person_id != '' AS matched, concat(stream_id, '/', track_id) FROM tracks FINAL \
                       WHERE kind = 'face' AND ended = 1";
            anyhow::Ok(client.query(sql).fetch_all::<(bool, String)>().await?)
        }
    };
    let faces = eventually(Duration::from_secs(240), "the recording's faces landed, the listed matched", || async {
        let faces = faces().await?;
        let matched = faces.iter().filter(|(m, _)| *m).count();
        Ok((faces.len() as u64 >= people && matched >= LISTED.len() && matched < faces.len()).then_some(faces))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // the last reports land
    let (unmatched, matched): (Vec<_>, Vec<_>) = faces.into_iter().partition(|(m, _)| !*m);
    let unmatched: Vec<String> = unmatched.into_iter().map(|(_, t)| t).collect();
    let matched: Vec<String> = matched.into_iter().map(|(_, t)| t).collect();
    let before = stack::event_counts(&clickhouse).await?;
    let shots = |tracks: Vec<String>| {
        let client = client.clone();
        async move {
            let sql = "SELECT (SELECT count() FROM best_shot_jpegs WHERE event_id IN \
                       (SELECT event_id FROM events WHERE has(?, concat(stream_id, '/', track_id)))), \
                       (SELECT countIf(notEmpty(descriptor)) FROM events WHERE has(?, concat(stream_id, '/', track_id)))";
            anyhow::Ok(client.query(sql).bind(&tracks).bind(&tracks).fetch_one::<(u64, u64)>().await?)
        }
    };
    let (unmatched_shots, unmatched_described) = shots(unmatched.clone()).await?;
    assert!(unmatched_shots > 0 && unmatched_described > 0, "the stranger's face was kept until now");
    let store = stack::object_store(&clickhouse.database)?;
    let (unmatched_images, matched_images) =
        (image_keys(&client, &unmatched).await?, image_keys(&client, &matched).await?);
    assert!(!unmatched_images.is_empty() && !matched_images.is_empty());
    // Every face's clip (the recording is H.264) is stored, in the recording's day.
    let (unmatched_clips, matched_clips) = (clip_keys(&client, &unmatched).await?, clip_keys(&client, &matched).await?);
    assert_eq!((unmatched_clips.len(), matched_clips.len()), (unmatched.len(), matched.len()), "a clip per face");
    let recording_day = sightline_common::objects::media_key(MediaKind::Clip, ten_days_ago, "", "");
    assert!(unmatched_clips.iter().all(|k| k.starts_with(recording_day.trim_end_matches('/'))), "{unmatched_clips:?}");
    assert_eq!(stored(&store, &unmatched_clips).await?, unmatched.len(), "the stranger's clips are stored");
    assert_eq!(
        stored(&store, &unmatched_images).await?,
        unmatched_images.len(),
        "the stranger's best shots are stored"
    );
    // A listed face shares its body's clip (the folder is named by the body's track). Were the body
    // kept for less time than its face (its key not marked matched with it), retention would expire
    // the body first: the clip they share stays for the face.
    let shared_bodies: Vec<String> = matched_clips
        .iter()
        .filter_map(|key| key.trim_end_matches("/init.mp4").rsplit('/').next())
        .filter(|track| !matched.iter().any(|face| face.ends_with(&format!("/{track}"))))
        .map(str::to_owned)
        .collect();
    assert!(!shared_bodies.is_empty(), "a listed face shares its body's clip: {matched_clips:?} of {matched:?}");
    sqlx::query("UPDATE track_keys SET matched = false WHERE track_id = ANY($1)")
        .bind(&shared_bodies)
        .execute(&pipeline.db.pool)
        .await?;
    // A day of best shots past the longest image period, as an older deployment left it, and one of
    // today's kept beside it.
    let old_day = "best-shots/2020-01-01/cam-old/1";
    store.put(old_day, vec![1, 2, 3], "application/octet-stream").await?;

    // An alert and an audit record from before their periods (180 days, 2 years).
    let pool = &pipeline.db.pool;
    let old_alert: uuid::Uuid =
        sqlx::query_scalar("UPDATE alerts SET raised_at = now() - interval '200 days' WHERE id = (SELECT min(id::text)::uuid FROM alerts) RETURNING id")
            .fetch_one(pool)
            .await?;
    sqlx::query(
        "INSERT INTO audit_log (at, principal_id, principal_name, role, via, service, action) \
         VALUES (now() - interval '800 days', gen_random_uuid(), 'old', 'admin', 'token', 'query', 'export.csv')",
    )
    .execute(pool)
    .await?;

    sightline_common::auth::register(pool, "privacy-officer", ADMIN, Role::Admin).await?;
    let query_port = pipeline.query_port.expect("the query API");
    let (status, refused) = call(query_port, "POST", "/v1/privacy/retention-runs", ANALYST, None)?;
    assert_eq!(status, 403, "{refused}");
    let (status, run) = call(query_port, "POST", "/v1/privacy/retention-runs", ADMIN, None)?;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "done", "{run}");
    let counts = &run["counts"];
    assert!(counts["keys"].as_u64() >= Some(unmatched.len() as u64 * 2), "an image and a template key per face: {run}");
    assert!(counts["alerts"].as_u64() >= Some(1) && counts["audit_records"].as_u64() >= Some(1), "{run}");

    // PostgreSQL: the unmatched faces' keys are gone, the matched ones' kept; the old alert and record too.
    let keys = |tracks: Vec<String>| async move {
        anyhow::Ok(
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM track_keys WHERE stream_id || '/' || track_id = ANY($1)",
            )
            .bind(tracks)
            .fetch_one(pool)
            .await?,
        )
    };
    assert_eq!(keys(unmatched.clone()).await?, 0, "the unmatched faces' keys expired");
    assert_eq!(stored(&store, &unmatched_images).await?, 0, "the unmatched faces' best shots left the object store");
    assert_eq!(stored(&store, &matched_images).await?, matched_images.len(), "the matched faces' are kept");
    // The clips follow their faces' images: the stranger's left the store, whole; the listed kept.
    assert_eq!(stored(&store, &unmatched_clips).await?, 0, "the unmatched faces' clips left the object store");
    for clip in &unmatched_clips {
        let folder = clip.trim_end_matches("init.mp4");
        assert_eq!(store.list(folder).await?, Vec::<String>::new(), "no piece of {folder} is left");
    }
    assert_eq!(stored(&store, &matched_clips).await?, matched_clips.len(), "the matched faces' clips are kept");
    let bodies_left: i64 = sqlx::query_scalar("SELECT count(*) FROM track_keys WHERE track_id = ANY($1)")
        .bind(&shared_bodies)
        .fetch_one(&pipeline.db.pool)
        .await?;
    assert_eq!(bodies_left, 0, "the bodies sharing the listed faces' clips expired before them");
    assert_eq!(store.get(old_day).await?, None, "a day past the images' longest period is deleted");
    assert!(counts["objects"].as_u64() >= Some(1), "{run}");
    assert!(keys(matched.clone()).await? >= matched.len() as i64 * 2, "the matched faces' keys are kept");
    let alert_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alerts WHERE id = $1").bind(old_alert).fetch_one(pool).await?;
    let old_records: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE principal_name = 'old'").fetch_one(pool).await?;
    assert_eq!((alert_left, old_records), (0, 0), "the alert and the audit record past their periods");
    let refused = sqlx::query("DELETE FROM audit_log").execute(pool).await;
    assert!(refused.is_err(), "outside a retention run the log is still append-only");
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'privacy.retention' AND principal_name = 'privacy-officer'",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(recorded, 1);

    // A run that fails (the alerts table is away) is named on /readyz and in the metrics, as a
    // limitation: the service stays ready for analysts. The next run that succeeds clears it.
    let query = pipeline.query_service().expect("the query service");
    let (status, ready) = query.get("/readyz")?;
    assert!(status == 200 && !ready.contains("retention"), "{status} {ready}");
    assert_eq!(query.metric("sightline_query_retention_failing")?, 0.0);
    let succeeded = query.metric("sightline_query_retention_last_success_timestamp_seconds")?;
    assert!(succeeded > 0.0, "the first run's success is exported");
    sqlx::query("ALTER TABLE alerts RENAME TO alerts_away").execute(pool).await?;
    let (status, failed) = call(query_port, "POST", "/v1/privacy/retention-runs", ADMIN, None)?;
    sqlx::query("ALTER TABLE alerts_away RENAME TO alerts").execute(pool).await?;
    assert_eq!((status, &failed["outcome"]), (200, &json!("failed")), "{failed}");
    let (status, ready) = query.get("/readyz")?;
    let named = format!("retention: run {} failed", failed["id"]);
    assert!(status == 200 && ready.contains(&named) && ready.contains("alerts"), "{status} {ready}");
    assert_eq!(query.metric("sightline_query_retention_failing")?, 1.0);
    assert_eq!(query.metric("sightline_query_retention_runs_total{kind=\"failed\"}")?, 1.0);
    let (status, again) = call(query_port, "POST", "/v1/privacy/retention-runs", ADMIN, None)?;
    assert_eq!((status, &again["outcome"]), (200, &json!("done")), "{again}");
    let (status, ready) = query.get("/readyz")?;
    assert!(status == 200 && !ready.contains("retention"), "{status} {ready}");
    assert_eq!(query.metric("sightline_query_retention_failing")?, 0.0);
    assert_eq!(query.metric("sightline_query_retention_runs_total{kind=\"done\"}")?, 2.0);

    // The warehouse: the unmatched faces' copies go, the matched ones' stay, and every count stays.
    eventually(Duration::from_secs(60), "the expired faces' copies deleted", || async {
        Ok((shots(unmatched.clone()).await? == (0, 0)).then_some(()))
    })
    .await?;
    let (kept_shots, kept_described) = shots(matched.clone()).await?;
    assert!(kept_shots > 0 && kept_described > 0, "the listed people's faces are kept for 90 days");
    assert_eq!(stack::event_counts(&clickhouse).await?, before, "every report still counts");

    // A replay of the topic into a fresh warehouse agrees.
    let (_writer, rebuilt) = replay_into_a_fresh_warehouse(&pipeline, before.0).await?;
    let replayed = |tracks: Vec<String>| {
        let client = rebuilt.read_client();
        async move {
            let sql = "SELECT countIf(notEmpty(descriptor)), countIf(has_best_shot = 1) FROM events \
                       WHERE has(?, concat(stream_id, '/', track_id))";
            anyhow::Ok(client.query(sql).bind(&tracks).fetch_one::<(u64, u64)>().await?)
        }
    };
    assert_eq!(replayed(unmatched).await?, (0, 0), "a rebuild brings no expired face back");
    let (described, shot) = replayed(matched).await?;
    assert!(described > 0 && shot > 0, "a rebuild keeps the kept faces");
    pipeline.remove().await
}
