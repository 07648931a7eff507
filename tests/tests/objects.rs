//! The object store module (`common::objects`) on the local stack's Garage: objects are stored, read,
//! listed and deleted by prefix and by day (how retention expires them); while the store is paused
//! for 20 s, its check says it is unavailable, writes wait and are retried, and none is lost: neither
//! by the module nor by the writer landing best shots. Best shots the warehouse held before the
//! object store are moved out into it.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::config::Deployment;
use sightline_common::objects::{
    CLIP_INIT_SEGMENT, MediaKind, ObjectError, ObjectStore, ObjectStoreSettings, clip_segment_name, media_key,
};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce};
use sightline_testkit::stack::{self, Isolation, ServiceProcess, event_counts, eventually};
use std::time::{Duration, Instant};

/// Tests that pause Garage take turns: a pause must not meet another test's reads.
static GARAGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The local stack's store, with the shipped settings.
fn store() -> anyhow::Result<ObjectStore> {
    let mut settings = ObjectStoreSettings::default();
    if let Ok(endpoint) = std::env::var("SIGHTLINE_S3_ENDPOINT") {
        settings.endpoint = endpoint;
    }
    Ok(ObjectStore::new(&settings, Deployment::Development)?)
}

/// Sends `signal` to the local stack's Garage.
fn signal_garage(signal: &str) -> anyhow::Result<()> {
    let pid_file = std::env::var("SIGHTLINE_GARAGE_PID_FILE")?;
    let pid = std::fs::read_to_string(&pid_file)?;
    let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.trim()).status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid}");
    Ok(())
}

/// Resumes Garage when dropped, whatever happened meanwhile.
struct Paused;

impl Paused {
    fn garage() -> anyhow::Result<Self> {
        signal_garage("STOP")?;
        Ok(Self)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = signal_garage("CONT");
    }
}

#[tokio::test]
async fn objects_are_kept_through_a_store_paused_for_20_s() -> anyhow::Result<()> {
    let _turn = GARAGE.lock().await;
    let store = store()?;
    store.check().await?;
    let prefix = format!("test/objects-{}/", uuid::Uuid::new_v4().simple());

    // Stored, read back, listed and deleted by prefix.
    let bytes = |i: u8| vec![i; 1000 + usize::from(i)];
    for (key, i) in [("a/1", 1), ("a/2", 2), ("b/1", 3)] {
        store.put(&format!("{prefix}{key}"), bytes(i), "application/octet-stream").await?;
    }
    assert_eq!(store.get(&format!("{prefix}a/2")).await?, Some(bytes(2)));
    assert_eq!(store.get(&format!("{prefix}a/3")).await?, None, "a key never stored");
    let mut listed = store.list(&prefix).await?;
    listed.sort();
    assert_eq!(listed, ["a/1", "a/2", "b/1"].map(|k| format!("{prefix}{k}")));
    assert_eq!(store.delete_prefix(&format!("{prefix}a/")).await?, 2);
    assert_eq!(store.get(&format!("{prefix}a/1")).await?, None);
    assert_eq!(store.list(&prefix).await?, [format!("{prefix}b/1")]);

    // Paused for 20 s: the check says so, writes issued meanwhile wait and land once it is back.
    let paused = Paused::garage()?;
    let started = Instant::now();
    let writes: Vec<_> = (0..5u8)
        .map(|i| {
            let (store, key) = (store.clone(), format!("{prefix}during/{i}"));
            tokio::spawn(async move { store.put(&key, bytes(10 + i), "image/jpeg").await })
        })
        .collect();
    let checked = store.check().await;
    assert!(matches!(checked, Err(ObjectError::Unavailable(_))), "the check while paused: {checked:?}");
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    drop(paused);
    for write in writes {
        write.await??;
    }
    assert!(started.elapsed() >= Duration::from_secs(20), "the writes waited for the store");
    for i in 0..5u8 {
        assert_eq!(store.get(&format!("{prefix}during/{i}")).await?, Some(bytes(10 + i)), "write {i} kept");
    }
    store.check().await?;
    assert_eq!(store.delete_prefix(&prefix).await?, 6);
    assert!(store.list(&prefix).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn keys_live_under_the_prefix_and_expire_by_day() -> anyhow::Result<()> {
    let database = format!("test_objects_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let prefixed = stack::object_store(&database)?;
    let day_ms = 86_400_000;
    let now_ms = sightline_common::clock::now_ms();
    let old = media_key(MediaKind::BestShot, now_ms - 40 * day_ms, "cam/1", "e-old");
    let recent = media_key(MediaKind::BestShot, now_ms - 2 * day_ms, "cam/1", "e-recent");
    let clip = media_key(MediaKind::Clip, now_ms - 40 * day_ms, "cam/1", "t-old");
    for key in [&old, &recent, &clip] {
        prefixed.put(key, vec![7; 10], "application/octet-stream").await?;
    }
    // Listed as callers named them; stored under the database's prefix, apart from other tests'.
    let mut listed = prefixed.list("").await?;
    listed.sort();
    let mut expected = vec![old.clone(), recent.clone(), clip.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let whole = store()?;
    assert_eq!(whole.get(&format!("{database}/{recent}")).await?, Some(vec![7; 10]), "under {database}/");
    assert!(old.contains("/cam%2F1/"), "a stream is one folder: {old}");
    assert_eq!(prefixed.days(MediaKind::BestShot).await?.len(), 2);
    // Retention: best shots of the days before the first kept go; other kinds stay.
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(prefixed.expire_days_before(MediaKind::BestShot, today - time::Duration::days(30)).await?, 1);
    assert_eq!(prefixed.get(&old).await?, None);
    assert!(prefixed.get(&recent).await?.is_some() && prefixed.get(&clip).await?.is_some());
    assert_eq!(prefixed.delete_prefix("").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_clip_is_read_by_ranges_from_the_pieces_they_cover() -> anyhow::Result<()> {
    let database = format!("test_objects_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let store = stack::object_store(&database)?;
    let folder = media_key(MediaKind::Clip, sightline_common::clock::now_ms(), "cam-1", "track-1");
    // An init segment and three media segments, each byte telling its piece.
    let pieces = [(CLIP_INIT_SEGMENT.to_owned(), vec![0u8; 30])]
        .into_iter()
        .chain((1..=3).map(|n| (clip_segment_name(n), vec![n as u8; 100])))
        .collect::<Vec<_>>();
    for (name, bytes) in &pieces {
        store.put(&format!("{folder}/{name}"), bytes.clone(), "video/mp4").await?;
    }
    let whole: Vec<u8> = pieces.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
    let layout = store.clip_layout(&folder).await?.expect("a clip");
    assert_eq!(layout.len(), 330);
    assert_eq!(store.read_clip(&folder).await?, Some(whole.clone()));
    for (first, last) in [(0, 29), (25, 140), (130, 329), (200, 200)] {
        let part = store.read_clip_range(&layout, first, last).await?;
        assert_eq!(part.as_deref(), Some(&whole[first as usize..=last as usize]), "bytes {first}-{last}");
    }
    // Only the pieces a range covers are read: with the first segment gone, the third is still read.
    store.delete(&format!("{folder}/{}", clip_segment_name(1))).await?;
    assert_eq!(store.read_clip_range(&layout, 250, 329).await?, Some(vec![3; 80]));
    assert_eq!(store.read_clip_range(&layout, 0, 100).await?, None, "a piece gone since the listing");
    // After a gap, the later segments cannot follow: the clip is its init segment alone.
    assert_eq!(store.clip_layout(&folder).await?.map(|l| l.len()), Some(30));
    // The init segment stored again (the clip completed, with its length): read again after listing.
    store.put(&format!("{folder}/{CLIP_INIT_SEGMENT}"), vec![0; 40], "video/mp4").await?;
    assert_eq!(store.read_clip_range(&layout, 0, 10).await?, None, "the init segment changed since the listing");
    assert_eq!(store.delete_prefix("").await?, 3);
    assert_eq!(store.clip_layout(&folder).await?, None);
    Ok(())
}

#[tokio::test]
async fn the_writer_loses_no_best_shot_while_the_store_is_paused_for_20_s() -> anyhow::Result<()> {
    let _turn = GARAGE.lock().await;
    let iso = Isolation::new("objects_pause", 2).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let total = 1_500u64;
    let generator = || EventGenerator::new(LoadProfile { seed: 77, ..Default::default() });
    let producer = {
        let topic = iso.topic.clone();
        tokio::spawn(async move { produce(&stack::kafka(), &topic, &generator(), 0, total, Some(50.0)).await })
    };
    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    eventually(Duration::from_secs(120), "best shots stored before the pause", || async {
        Ok((writer.metric("sightline_writer_images_stored_total").unwrap_or(0.0) >= 100.0).then_some(()))
    })
    .await?;

    let paused = Paused::garage()?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (status, reason) = writer.get("/readyz")?;
    assert_eq!(status, 503, "not ready while the store is paused: {reason}");
    assert!(reason.contains("object store"), "{reason}");
    let landed_during = event_counts(&clickhouse).await?.0;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(event_counts(&clickhouse).await?.0, landed_during, "no event lands before its best shot");
    drop(paused);

    let produced = producer.await??;
    eventually(Duration::from_secs(180), "every event landed", || async {
        Ok((event_counts(&clickhouse).await?.0 == produced.len() as u64).then_some(()))
    })
    .await?;
    let client = clickhouse.read_client();
    let (rows, keyed): (u64, u64) = client
        .query("SELECT count(), countIf(object_key != '' AND empty(jpeg)) FROM best_shot_jpegs FINAL")
        .fetch_one()
        .await?;
    assert_eq!((rows, keyed), (total, total), "every best shot landed with its key");
    let store = stack::object_store(&iso.database)?;
    assert_eq!(store.list("best-shots/").await?.len() as u64, total, "and is in the store");
    // Read back as the API reads it: the JPEG produced.
    let warehouse = sightline_query::store::Warehouse::new(&clickhouse, store.clone());
    let pool = sqlx::PgPool::connect_lazy(&stack::postgres_url())?;
    let privacy = sightline_common::privacy::PrivacySettings::default();
    let keys = privacy.key_ring(privacy.key_store(Deployment::Development, pool)?);
    let events = generator();
    for index in [0, 700, total - 1] {
        let event = events.event(index);
        let read = warehouse.best_shot(event.event_id.parse()?, &keys).await?;
        assert_eq!(read, event.detection.and_then(|d| d.best_shot_jpeg), "event {index}'s best shot");
    }
    let (status, _) = writer.get("/readyz")?;
    assert_eq!(status, 200);
    assert!(writer.terminate(Duration::from_secs(30)));
    store.delete_prefix("").await?;
    Ok(())
}

#[tokio::test]
async fn best_shots_landed_before_the_store_are_moved_out() -> anyhow::Result<()> {
    let database = format!("test_move_images_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let clickhouse = stack::clickhouse(&database);
    let migrations = sightline_schemas::CLICKHOUSE_MIGRATIONS;
    let before = migrations.iter().position(|m| m.version == 15).expect("migration 0015");
    sightline_common::warehouse::apply_migrations(&clickhouse, &migrations[..before]).await?;
    let client = clickhouse.read_client();
    // As the writer landed them before 0015: a JPEG in clear, a sealed one, and one emptied by an
    // erasure's mutation (nothing to move).
    let sealed = sightline_schemas::v1::SealedFields {
        key_id: uuid::Uuid::new_v4().to_string(),
        key_day: 20_000,
        nonce: vec![1; 12],
        ciphertext: vec![9; 64],
    };
    let sealed = prost::Message::encode_to_vec(&sealed);
    let (clear_id, sealed_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    client
        .query(
            "INSERT INTO best_shot_jpegs (event_id, capture_time, stream_id, jpeg, track_id, sealed) VALUES \
             (toUUID(?), toDateTime(1765065600), 'cam-1', unhex('FFD8FF0102'), '', ''), \
             (toUUID(?), toDateTime(1767225600), 'cam-2', '', 't-2', unhex(?))",
        )
        .bind(clear_id.to_string())
        .bind(sealed_id.to_string())
        .bind(hex(&sealed))
        .execute()
        .await?;
    sightline_common::warehouse::migrate(&clickhouse).await?;

    let store = stack::object_store(&database)?;
    let metrics = sightline_writer::metrics::WriterMetrics::register(&mut Default::default());
    let (_trigger, shutdown) = sightline_common::shutdown::channel();
    let moved = sightline_writer::images::move_out(&clickhouse, &store, &metrics, &shutdown).await?;
    assert_eq!(moved, 2);
    let rows: Vec<(String, String, String, String, u8)> = client
        .query("SELECT toString(event_id), hex(jpeg), hex(sealed), object_key, object_sealed FROM best_shot_jpegs ORDER BY capture_time")
        .fetch_all()
        .await?;
    let clear_key = format!("best-shots/2025-12-07/cam-1/{clear_id}");
    let sealed_key = format!("best-shots/2026-01-01/cam-2/{sealed_id}");
    assert_eq!(
        rows,
        [
            (clear_id.to_string(), String::new(), String::new(), clear_key.clone(), 0),
            (sealed_id.to_string(), String::new(), String::new(), sealed_key.clone(), 1),
        ],
        "one row each, with the key and without the bytes (the partitions merged)"
    );
    assert_eq!(store.get(&clear_key).await?, Some(vec![0xff, 0xd8, 0xff, 1, 2]));
    assert_eq!(store.get(&sealed_key).await?, Some(sealed));
    // Read as the API reads it, and a second run finds nothing left.
    let warehouse = sightline_query::store::Warehouse::new(&clickhouse, store.clone());
    let pool = sqlx::PgPool::connect_lazy(&stack::postgres_url())?;
    let privacy = sightline_common::privacy::PrivacySettings::default();
    let keys = privacy.key_ring(privacy.key_store(Deployment::Development, pool)?);
    assert_eq!(warehouse.best_shot(clear_id, &keys).await?, Some(vec![0xff, 0xd8, 0xff, 1, 2]));
    assert_eq!(sightline_writer::images::move_out(&clickhouse, &store, &metrics, &shutdown).await?, 0);
    client.query(&format!("DROP DATABASE `{database}`")).execute().await?;
    store.delete_prefix("").await?;
    Ok(())
}

/// `bytes` as hexadecimal digits.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A camera over RTSP whose tracks' clips are written while Garage is paused for 20 s: every piece
/// waits in ingest's queue and lands once the store is back, so each clip is whole (its init
/// segment, then every segment in order) and plays its track's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clip_is_lost_while_the_store_is_paused_for_20_s() -> anyhow::Result<()> {
    use prost::Message as _;
    use rdkafka::Message as _;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use sightline_ingest::clip::{ClipSettings, Clips, upload::ClipUploads};
    use sightline_ingest::events::StreamContext;
    use sightline_ingest::source::SourceSpec;
    use sightline_ingest::worker::{MediaClock, Models, StreamWorker, WorkerSettings};
    use sightline_schemas::v1::{DetectionEvent, ObjectKind};

    let _turn = GARAGE.lock().await;
    let (video, truth) = sightline_testkit::pipeline::test_video()?;
    let rtsp = sightline_testkit::pipeline::RtspVideo::serve(&video)?;
    let iso = Isolation::new("clips_paused", 1).await?;
    let topic = format!("{}.detections", iso.topic);
    sightline_common::kafka::ensure_topics(
        &stack::kafka(),
        &[sightline_common::kafka::TopicSpec { name: topic.clone(), partitions: 1, replication: 1, retention_ms: -1 }],
    )
    .await?;
    let store = stack::object_store(&iso.database)?;
    let metrics = sightline_ingest::metrics::IngestMetrics::unregistered();
    let settings = ClipSettings::default();
    let (uploads, uploader) = ClipUploads::start(store.clone(), settings.max_queued_bytes, metrics.clone());
    let clips = Clips { settings, uploads };
    let stream_metrics = metrics.stream("door");
    let recorder = clips.recorder("door", &stream_metrics);
    drop(clips);
    let models = sightline_vision::detect::ModelFiles { dir: std::env::var("SIGHTLINE_MODELS_DIR")?.into() };
    let environment = sightline_vision::detect::runtime(&models.runtime_library())?;
    let faces = sightline_vision::detect::FaceDetector::new(&environment, &models.face_model(), Default::default())?;
    let worker = StreamWorker::start(
        WorkerSettings {
            context: StreamContext {
                stream_id: "door".into(),
                site: "hq".into(),
                frame_width: 0,
                frame_height: 0,
                count_only_unmatched_faces: false,
                instance: String::new(),
            },
            source: SourceSpec {
                analysis_fps: 5,
                width: 640,
                clips: Some(recorder.clone()),
                ..SourceSpec::new(&rtsp.url)
            },
            tracker: Default::default(),
            kafka: stack::kafka(),
            topic: topic.clone(),
            roi: None,
            metrics: stream_metrics,
            clock: MediaClock::Live,
            snapshot: None,
            sealer: None,
            recorder: Some(recorder),
        },
        Models { faces, people: None },
    )?;
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{}-reports", iso.group)).set("auto.offset.reset", "earliest");
    let reports: StreamConsumer = config.create()?;
    reports.subscribe(&[topic.as_str()])?;
    let next = || async {
        let message = tokio::time::timeout(Duration::from_secs(60), reports.recv()).await??;
        anyhow::Ok(DetectionEvent::decode(message.payload().unwrap_or_default())?)
    };

    // Paused from the first report on: the video's faces come, go and end meanwhile.
    let first = next().await?;
    let paused = Paused::garage()?;
    let started = Instant::now();
    let mut ended: Vec<DetectionEvent> = Vec::new();
    while ended.len() < truth.people.len() {
        let report = next().await?;
        if report.track_ended && report.kind == ObjectKind::Face as i32 {
            ended.push(report);
        }
    }
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    assert!(!first.clip_key.is_empty(), "the first report names its clip");
    drop(paused);
    tokio::task::spawn_blocking(move || worker.stop(Duration::from_secs(30))).await?;
    uploader.finish(Duration::from_secs(60)).await;

    for report in &ended {
        assert!(!report.clip_key.is_empty(), "a clip for {}", report.track_id);
        let mut pieces = store.list(&format!("{}/", report.clip_key)).await?;
        pieces.sort();
        let segments: Vec<&String> = pieces.iter().filter(|k| k.ends_with(".m4s")).collect();
        let expected: Vec<String> = (1..=segments.len() as u32)
            .map(|n| format!("{}/{}", report.clip_key, sightline_common::objects::clip_segment_name(n)))
            .collect();
        assert_eq!(segments, expected.iter().collect::<Vec<_>>(), "every segment, in order");
        assert!(pieces.contains(&format!("{}/init.mp4", report.clip_key)), "{pieces:?}");
        let clip = store.read_clip(&report.clip_key).await?.expect("the clip");
        let path = std::env::temp_dir().join(format!("{}-{}.mp4", iso.group, report.track_id));
        std::fs::write(&path, &clip)?;
        let (frames, _) = sightline_ingest::testmedia::decode_mp4(&path, &[]).map_err(anyhow::Error::msg)?;
        let _ = std::fs::remove_file(&path);
        let shown = (frames[0].pts_ms + report.clip_start_ms, frames[frames.len() - 1].pts_ms + report.clip_start_ms);
        assert!(
            shown.0 <= report.first_seen_ms && shown.1 >= report.last_seen_ms,
            "the clip ({shown:?}) plays the track's time ({}..{})",
            report.first_seen_ms,
            report.last_seen_ms
        );
    }
    assert!(metrics.stream("door").clips.get() >= ended.len() as u64, "a clip per track");
    store.delete_prefix("").await?;
    Ok(())
}
