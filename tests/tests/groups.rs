//! Every consumer as several instances in its group, on the real stack with the shipped settings,
//! the warehouse on the local ClickHouse cluster (2 shards x 2 replicas): three `sightline-enrich`,
//! three `sightline-writer`, two `sightline-notifier` and two `sightline-scheduler`. While detections
//! flow, one instance of each is SIGKILLed and a replacement started, as a supervisor would. Then:
//! one enriched event per detection and one row per track in the cluster's warehouse, one alert per
//! rule and track (each delivered), and one mail per report run.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod faces;

use prost::Message as _;
use serde_json::json;
use sightline_common::auth::Role;
use sightline_common::clock::now_ms;
use sightline_common::kafka::TopicSpec;
use sightline_common::warehouse::{self, ClickHouseSettings};
use sightline_enrich::pipeline::enriched_event_id;
use sightline_schemas::v1::{DetectionEvent, SCHEMA_VERSION, TrackReportKind};
use sightline_testkit::alerts::WebhookReceiver;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce_raw};
use sightline_testkit::mail::attachments_to;
use sightline_testkit::pipeline::{OPERATOR, enrol_listed};
use sightline_testkit::stack::{
    self, Isolation, ServiceProcess, TestDatabase, call, event_counts, event_ids, eventually,
};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings};
use std::collections::BTreeSet;
use std::time::Duration;

/// Generated detections: faces and bodies of many tracks, none of a listed person.
const GENERATED: u64 = 900;
/// Tracks of the listed person, each reported three times (first, update, ended).
const LISTED_TRACKS: usize = 24;
const WEBHOOK_SECRET: &str = "groups-webhook-secret";

/// The services of one test: its topics, database and warehouse.
struct Groups {
    iso: Isolation,
    detections: String,
    alerts: String,
    db: TestDatabase,
    models: String,
}

impl Groups {
    /// Enrich instance `n` of the group, its API on `port`.
    fn enrich(&self, n: usize, port: u16) -> anyhow::Result<ServiceProcess> {
        let mut settings = vec![
            ("KAFKA__BROKERS", stack::kafka().brokers),
            ("INPUT_TOPIC", self.detections.clone()),
            ("OUTPUT_TOPIC", self.iso.topic.clone()),
            ("DLQ_TOPIC", self.iso.dlq_topic.clone()),
            ("GROUP_ID", format!("{}-enrich", self.iso.group)),
            ("POSTGRES_URL", self.db.url.clone()),
            ("MODELS_DIR", self.models.clone()),
            ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ];
        settings.extend(stack::object_settings(&self.iso.database));
        let log = format!("{}-enrich-{n}", self.iso.group);
        ServiceProcess::start("sightline-enrich", "ENRICH", "METRICS_ADDR", &[], &settings, &log)
    }

    /// A writer of the group, through cluster server `server`.
    fn writer(&self, server: usize) -> anyhow::Result<ServiceProcess> {
        let iso = Isolation { group: format!("{}-writer", self.iso.group), ..self.iso.clone() };
        ServiceProcess::writer(&iso, &self.cluster(server), &[], &[("POSTGRES_URL", &self.db.url)])
    }

    /// Notifier instance `n` of the group.
    fn notifier(&self, n: usize, port: u16) -> anyhow::Result<ServiceProcess> {
        let group = format!("{}-notifier", self.iso.group);
        ServiceProcess::notifier(&self.iso, &self.alerts, &self.db.url, &group, port, &format!("{group}-{n}"))
    }

    /// Scheduler instance `n`, reading the cluster through server `n % 4`; its API port.
    fn scheduler(&self, n: usize) -> anyhow::Result<(ServiceProcess, u16)> {
        let port = stack::free_port()?;
        let mut settings = stack::api_settings(port, &self.db.url, &self.cluster(n % 4));
        settings.extend(stack::smtp_sink()?);
        let log = format!("{}-scheduler-{n}", self.iso.group);
        Ok((ServiceProcess::start("sightline-scheduler", "SCHEDULER", "METRICS_ADDR", &[], &settings, &log)?, port))
    }

    /// The warehouse on the cluster, through server `server`.
    fn cluster(&self, server: usize) -> ClickHouseSettings {
        stack::cluster(&self.iso.database, server)
    }
}

/// The listed person's tracks: three reports each, from a photo other than the enrolment one, on
/// three cameras; captured `at` and after.
fn listed_reports(at: i64) -> Vec<DetectionEvent> {
    let files = faces::files();
    let environment = detect::runtime(&files.runtime_library()).expect("ONNX Runtime");
    let mut detector =
        FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default()).expect("detector");
    let face = faces::detection(&mut detector, &faces::photo("obama2.jpg"), "cam-listed");
    let mut reports = Vec::new();
    for track in 0..LISTED_TRACKS {
        let track_id = uuid::Uuid::new_v4().to_string();
        let first_seen = at + 1_000 * track as i64;
        for (sequence, kind) in
            [TrackReportKind::First, TrackReportKind::Update, TrackReportKind::Ended].into_iter().enumerate()
        {
            let seen = first_seen + 500 * sequence as i64;
            reports.push(DetectionEvent {
                schema_version: SCHEMA_VERSION,
                event_id: uuid::Uuid::new_v4().to_string(),
                stream_id: format!("cam-listed-{}", track % 3),
                track_id: track_id.clone(),
                capture_time_ms: seen,
                processing_time_ms: seen + 100,
                first_seen_ms: first_seen,
                last_seen_ms: seen,
                frame_count: 5 * (sequence as u32 + 1),
                report_kind: kind as i32,
                report_sequence: sequence as u32,
                track_ended: kind == TrackReportKind::Ended,
                ..face.clone()
            });
        }
    }
    reports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_group_survives_a_sigkill_on_the_cluster() -> anyhow::Result<()> {
    let iso = Isolation::new("groups", 6).await?;
    let (detections, alerts) = (format!("{}.detections", iso.topic), format!("{}.alerts", iso.topic));
    let specs = [&detections, &alerts].map(|name| TopicSpec {
        name: name.clone(),
        partitions: 6,
        replication: 1,
        retention_ms: -1,
    });
    sightline_common::kafka::ensure_topics(&stack::kafka(), &specs).await?;
    let db = TestDatabase::create("test_groups").await?;
    sightline_common::auth::register(&db.pool, "operator", OPERATOR, Role::Operator).await?;
    let models = std::env::var("SIGHTLINE_MODELS_DIR")?;
    let test = Groups { iso, detections, alerts, db, models };
    // Migrated first, as a deployment does.
    warehouse::migrate(&test.cluster(0)).await?;

    // Three enrich instances, the listed person enrolled through one of them.
    let enrich_ports: Vec<u16> = (0..3).map(|_| stack::free_port()).collect::<anyhow::Result<_>>()?;
    let mut enrich: Vec<ServiceProcess> =
        enrich_ports.iter().enumerate().map(|(n, port)| test.enrich(n, *port)).collect::<anyhow::Result<_>>()?;
    let list_id = enrol_listed(enrich_ports[0], &test.models, &[("Obama", "obama.jpg")]).await?;
    // Three writers over both shards' servers.
    let mut writers: Vec<ServiceProcess> =
        [0, 2, 1].into_iter().map(|server| test.writer(server)).collect::<anyhow::Result<_>>()?;
    // Two notifiers with a rule on the list, every alert to a webhook.
    let receiver = WebhookReceiver::new(WEBHOOK_SECRET);
    let receiver_port = stack::free_port()?;
    let _server = receiver.serve(receiver_port).await?;
    let notifier_ports: Vec<u16> = (0..2).map(|_| stack::free_port()).collect::<anyhow::Result<_>>()?;
    let mut notifiers: Vec<ServiceProcess> =
        notifier_ports.iter().enumerate().map(|(n, port)| test.notifier(n, *port)).collect::<anyhow::Result<_>>()?;
    sightline_testkit::pipeline::answering(notifier_ports[0], "/v1/alert-rules", OPERATOR).await?;
    let rule = json!({"name": "Listed", "list_ids": [list_id], "cooldown_secs": 0, "channels": {
        "webhook": {"url": format!("http://127.0.0.1:{receiver_port}/hooks/listed"), "secret": WEBHOOK_SECRET}}});
    let (status, created) = call(notifier_ports[0], "POST", "/v1/alert-rules", OPERATOR, Some(rule))?;
    assert_eq!(status, 201, "{created}");
    // Two schedulers, and a report of every face of the last hour mailed each minute.
    let mut schedulers = vec![test.scheduler(0)?, test.scheduler(1)?];
    let scheduler_port = schedulers[1].1;
    sightline_testkit::pipeline::answering(scheduler_port, "/v1/schedules", OPERATOR).await?;
    for process in writers.iter().chain(&enrich) {
        process.wait_ready(Duration::from_secs(90), "the writers and enrich to be ready").await?;
    }

    // The detections: generated ones and the listed person's tracks, mixed, captured in the last
    // half hour, produced at about 150 a second.
    let now = now_ms();
    let generator = EventGenerator::new(LoadProfile {
        seed: 38,
        streams: 6,
        start_ms: now - 1_800_000,
        step_ms: 1_000,
        reports_per_track: 3,
        ..Default::default()
    });
    let mut all: Vec<DetectionEvent> = (0..GENERATED).filter_map(|i| generator.event(i).detection).collect();
    let listed = listed_reports(now - 600_000);
    for (n, report) in listed.iter().enumerate() {
        all.insert((n * 37) % all.len(), report.clone());
    }
    let messages: Vec<(String, Vec<u8>)> = all.iter().map(|d| (d.stream_id.clone(), d.encode_to_vec())).collect();
    let producing = {
        let (kafka, topic) = (stack::kafka(), test.detections.clone());
        tokio::spawn(async move {
            for chunk in messages.chunks(30) {
                produce_raw(&kafka, &topic, chunk).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok(())
        })
    };
    let to = format!("groups-{}@example.com", test.iso.group);
    let due_second = (now_ms() / 1000 + 12) % 60;
    let schedule = json!({"name": "Faces", "cron": format!("{due_second} * * * * *"), "format": "csv",
                          "range_hours": 1, "filters": {"kind": "face"}, "recipients": [to]});
    let (status, created) = call(scheduler_port, "POST", "/v1/schedules", OPERATOR, Some(schedule))?;
    assert_eq!(status, 201, "{created}");
    let schedule_id = created["id"].as_str().unwrap_or_default().to_owned();

    // Once each group is at work, one of each dies mid-stream and is replaced.
    eventually(Duration::from_secs(120), "enrich, the writers and the notifiers at work", || async {
        let sum = |processes: &[ServiceProcess], series: &str| {
            processes.iter().map(|p| p.metric(series).unwrap_or(0.0)).sum::<f64>()
        };
        Ok((sum(&enrich, "sightline_enrich_produced_total") >= 100.0
            && sum(&writers, "sightline_writer_inserted_total") >= 50.0
            && receiver.delivered("listed").len() >= 2)
            .then_some(()))
    })
    .await?;
    enrich.remove(0).kill();
    writers.remove(0).kill();
    notifiers.remove(0).kill();
    schedulers.remove(0).0.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    enrich.push(test.enrich(3, stack::free_port()?)?);
    writers.push(test.writer(3)?);
    notifiers.push(test.notifier(2, stack::free_port()?)?);
    schedulers.push(test.scheduler(2)?);
    producing.await??;

    // One enriched event per detection, one row per track, in the cluster's warehouse.
    let cluster = test.cluster(0);
    let detections = all.len() as u64;
    eventually(Duration::from_secs(240), "every detection landed", || async {
        let (visible, _) = event_counts(&cluster).await?;
        anyhow::ensure!(visible <= detections, "{visible} visible events, more than {detections} detections");
        Ok((visible == detections).then_some(()))
    })
    .await?;
    let mut want: Vec<String> = all.iter().map(|d| enriched_event_id(&d.event_id).to_string()).collect();
    want.sort();
    assert_eq!(event_counts(&cluster).await?, (detections, detections), "visible rows and distinct ids");
    assert_eq!(event_ids(&cluster).await?, want, "one enriched event per detection");
    let tracks: BTreeSet<&str> = all.iter().map(|d| d.track_id.as_str()).collect();
    // A batch's tracks land just after its events.
    let want_tracks = (tracks.len() as u64, tracks.len() as u64);
    eventually(Duration::from_secs(30), "one row per track", || async {
        let (rows, distinct): (u64, u64) =
            cluster.read_client().query("SELECT count(), uniqExact(track_id) FROM tracks FINAL").fetch_one().await?;
        anyhow::ensure!(rows <= want_tracks.0, "{rows} track rows ({distinct} tracks), more than {want_tracks:?}");
        Ok(((rows, distinct) == want_tracks).then_some(()))
    })
    .await?;

    // One alert per rule and track, each delivered.
    eventually(Duration::from_secs(120), "an alert per listed track, delivered", || async {
        Ok((receiver.delivered("listed").len() >= LISTED_TRACKS).then_some(()))
    })
    .await?;
    let (alerts, alerted_tracks): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (rule_id, track_id)) FROM alerts")
            .fetch_one(&test.db.pool)
            .await?;
    assert_eq!((alerts, alerted_tracks), (LISTED_TRACKS as i64, LISTED_TRACKS as i64), "one alert per rule and track");
    assert_eq!(receiver.delivered("listed").len(), LISTED_TRACKS, "each alert delivered, under one idempotency key");

    // One mail per run: the minute's run (whichever scheduler was alive) and two on demand.
    eventually(Duration::from_secs(90), "the scheduled run mailed", || async {
        Ok((!attachments_to(&to)?.is_empty()).then_some(()))
    })
    .await?;
    for n in 2..=3 {
        let (status, _) = call(scheduler_port, "POST", &format!("/v1/schedules/{schedule_id}/run"), OPERATOR, None)?;
        assert_eq!(status, 202);
        eventually(Duration::from_secs(60), "the run on demand mailed", || async {
            Ok((attachments_to(&to)?.len() >= n).then_some(()))
        })
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM report_deliveries WHERE ok").fetch_one(&test.db.pool).await?;
    let mails = attachments_to(&to)?;
    assert_eq!(mails.len() as i64, runs, "one mail per run");
    // The last run, made once every detection landed, holds every face track of the hour (a row
    // per track).
    let faces = all.iter().filter(|d| d.kind == 1).map(|d| &d.track_id).collect::<BTreeSet<_>>().len();
    let last = mails.iter().map(|m| String::from_utf8_lossy(&m.attachment).lines().count() - 1).max().unwrap_or(0);
    assert_eq!(last, faces, "the report over the cluster counts every face");

    for process in enrich.into_iter().chain(writers).chain(notifiers).chain(schedulers.into_iter().map(|(p, _)| p)) {
        assert!(process.terminate(Duration::from_secs(30)), "stopped cleanly on SIGTERM");
    }
    let settings = test.cluster(0);
    settings
        .server_client()
        .query(&format!("DROP DATABASE IF EXISTS `{}` ON CLUSTER `{}`", settings.database, settings.cluster))
        .execute()
        .await?;
    test.db.remove().await
}
