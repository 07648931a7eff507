//! End-to-end test of watchlist alerts on the real stack: enriched events go through tansu to
//! `sightline-notifier`, which stores alerts in PostgreSQL and delivers them to a real HTTP receiver
//! started here (signature checked), to the stack's SMTP server (the mail read back from its
//! Maildir), to a browser-like live-feed subscriber (Server-Sent Events over TCP) and to the alerts
//! topic. The notifier runs with the shipped settings; the operator's allowance of the loopback
//! receiver (`WEBHOOK__ALLOW_HOSTS`) is configuration, as in `notifier/notifier.toml`.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::json;
use sightline_common::auth::Role;
use sightline_common::clock::now_ms;
use sightline_common::kafka::TopicSpec;
use sightline_schemas::v1::{AlertEvent, EnrichedEvent, MatchResult, ObjectKind, TrackReportKind};
use sightline_testkit::alerts::{WebhookReceiver, subscribe_live};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce_raw};
use sightline_testkit::mail::mails_to;
use sightline_testkit::stack::{self, Isolation, ServiceProcess, TestDatabase, call, eventually, http_exchange};
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

const OPERATOR: &str = "operator-secret";
const ANALYST: &str = "analyst-secret";
const VIEWER: &str = "viewer-secret";
const ADMIN: &str = "admin-secret";
const SECRET: &str = "a-webhook-secret-of-some-length";

/// Builds face reports of tracks, from the load generator's first face event.
struct Reports {
    template: EnrichedEvent,
}

impl Reports {
    fn new() -> Self {
        let generator = EventGenerator::new(LoadProfile { seed: 77, ..Default::default() });
        let template = (0..100)
            .map(|i| generator.event(i))
            .find(|e| e.detection.as_ref().is_some_and(|d| d.kind == ObjectKind::Face as i32))
            .expect("the generator makes faces");
        Self { template }
    }

    /// Report `sequence` of `track` on `stream`, captured at `capture_ms`, whose best match is
    /// `matched` (none for a stranger).
    fn report(
        &self,
        stream: &str,
        track: &str,
        sequence: u32,
        kind: TrackReportKind,
        capture_ms: i64,
        matched: Option<&MatchResult>,
    ) -> (String, Vec<u8>) {
        let mut event = self.template.clone();
        let detection = event.detection.as_mut().expect("a detection");
        detection.event_id = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{track}/{sequence}").as_bytes()).to_string();
        detection.stream_id = stream.to_owned();
        detection.site = "door".into();
        detection.track_id = track.to_owned();
        detection.report_kind = kind as i32;
        detection.report_sequence = sequence;
        detection.track_ended = kind == TrackReportKind::Ended;
        detection.capture_time_ms = capture_ms;
        detection.first_seen_ms = capture_ms - 300;
        detection.last_seen_ms = capture_ms;
        event.event_id = Uuid::new_v5(&Uuid::NAMESPACE_OID, detection.event_id.as_bytes()).to_string();
        event.matches = matched.into_iter().cloned().collect();
        event.track_best_match = matched.cloned();
        (stream.to_owned(), event.encode_to_vec())
    }
}

fn person_match(list: Uuid, person: Uuid, name: &str, similarity: f32) -> MatchResult {
    MatchResult {
        list_id: list.to_string(),
        list_name: "Banned".into(),
        person_id: person.to_string(),
        person_external_id: "EXT-1".into(),
        person_display_name: name.into(),
        similarity,
        rank: 1,
        threshold: 0.5,
    }
}

struct NotifierTest {
    iso: Isolation,
    alerts_topic: String,
    db: TestDatabase,
    api_port: u16,
}

impl NotifierTest {
    fn start(&self, group: &str, log: &str) -> anyhow::Result<ServiceProcess> {
        ServiceProcess::notifier(&self.iso, &self.alerts_topic, &self.db.url, group, self.api_port, log)
    }

    async fn alert_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM alerts").fetch_one(&self.db.pool).await?)
    }
}

impl NotifierTest {
    /// A fresh isolation with its alerts topic, a database with a token per role, the list "Banned"
    /// with Ann Example on it and the stream "Door": the test, the list's, Ann's and the stream's ids.
    async fn create(name: &str) -> anyhow::Result<(Self, Uuid, Uuid, Uuid)> {
        let iso = Isolation::new(name, 3).await?;
        let alerts_topic = format!("{}.alerts", iso.topic);
        let spec = TopicSpec { name: alerts_topic.clone(), partitions: 3, replication: 1, retention_ms: -1 };
        sightline_common::kafka::ensure_topics(&stack::kafka(), &[spec]).await?;
        let db = TestDatabase::create(&format!("test_{name}")).await?;
        for (name, token, role) in [
            ("operator", OPERATOR, Role::Operator),
            ("analyst", ANALYST, Role::Analyst),
            ("viewer", VIEWER, Role::Viewer),
            ("admin", ADMIN, Role::Admin),
        ] {
            sightline_common::auth::register(&db.pool, name, token, role).await?;
        }
        let list: Uuid = sqlx::query_scalar("INSERT INTO watchlists (name) VALUES ('Banned') RETURNING id")
            .fetch_one(&db.pool)
            .await?;
        let person: Uuid = sqlx::query_scalar(
            "INSERT INTO watchlist_persons (list_id, display_name, external_id) VALUES ($1, 'Ann Example', 'EXT-1') RETURNING id",
        )
        .bind(list)
        .fetch_one(&db.pool)
        .await?;
        let stream: Uuid = sqlx::query_scalar(
            "INSERT INTO streams (name, source_url, site) VALUES ('Door', 'rtsp://127.0.0.1:8554/door', 'door') RETURNING id",
        )
        .fetch_one(&db.pool)
        .await?;
        Ok((Self { iso, alerts_topic, db, api_port: stack::free_port()? }, list, person, stream))
    }

    /// Starts the notifier and waits for its API.
    async fn start_and_wait(&self) -> anyhow::Result<ServiceProcess> {
        let group = format!("{}-notifier", self.iso.group);
        let notifier = self.start(&group, &group)?;
        let port = self.api_port;
        eventually(Duration::from_secs(60), "the notifier API", || async {
            Ok(call(port, "GET", "/v1/alert-rules", OPERATOR, None).ok().filter(|(s, _)| *s == 200).map(|_| ()))
        })
        .await?;
        Ok(notifier)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlisted_people_raise_one_alert_per_track_on_every_channel() -> anyhow::Result<()> {
    let (test, list, person, stream) = NotifierTest::create("notifier").await?;
    let (port, tag) = (test.api_port, test.iso.group.clone());

    let receiver = WebhookReceiver::new(SECRET);
    let receiver_port = stack::free_port()?;
    let mut server = receiver.serve(receiver_port).await?;
    let hook_url = |name: &str| format!("http://127.0.0.1:{receiver_port}/hooks/{name}");

    let group = format!("{tag}-notifier");
    let notifier = test.start_and_wait().await?;

    // Bad rules are refused with a 400 naming the problem; roles apply.
    let mail_to = format!("security-{tag}@example.com");
    let rule = |name: &str, url: String| {
        json!({
            "name": name, "list_ids": [list], "stream_ids": [stream], "min_similarity": 0.6,
            "channels": {"webhook": {"url": url, "secret": SECRET}, "email": {"to": [mail_to]}, "live": true, "kafka": true}
        })
    };
    let refusals = [
        (rule("ftp", "ftp://127.0.0.1/x".into()), "scheme"),
        (rule("private", "http://10.0.0.5/hook".into()), "allow_hosts"),
        (rule("metadata", "http://169.254.169.254/latest".into()), "allow_hosts"),
        (json!({"name": "unknown list", "list_ids": [Uuid::new_v4()], "channels": {"live": true}}), "list_ids"),
        (json!({"name": "unknown stream", "stream_ids": [Uuid::new_v4()], "channels": {"live": true}}), "stream_ids"),
        (json!({"name": "no channel", "channels": {}}), "channels"),
        (json!({"name": "typo", "channels": {"live": true}, "cooldown": 5}), "cooldown"),
        (json!({"name": "short secret", "channels": {"webhook": {"url": hook_url("x"), "secret": "short"}}}), "secret"),
        (json!({"name": "bad mail", "channels": {"email": {"to": ["not an address"]}}}), "email"),
        (json!({"name": "many sites", "sites": vec!["door"; 100_000], "channels": {"live": true}}), "sites has 100000"),
        (json!({"name": "many lists", "list_ids": vec![list; 101], "channels": {"live": true}}), "list_ids has 101"),
    ];
    for (body, needle) in refusals {
        let (status, answer) = call(port, "POST", "/v1/alert-rules", OPERATOR, Some(body.clone()))?;
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(status == 400 && error.contains(needle), "{body} → {status} {answer}");
    }
    let door = rule("Door", hook_url("door"));
    assert_eq!(call(port, "POST", "/v1/alert-rules", VIEWER, Some(door.clone()))?.0, 403);
    assert_eq!(call(port, "POST", "/v1/alert-rules", ANALYST, Some(door.clone()))?.0, 403);
    let (status, created) = call(port, "POST", "/v1/alert-rules", OPERATOR, Some(door.clone()))?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(call(port, "POST", "/v1/alert-rules", OPERATOR, Some(door))?.0, 409, "names are unique");
    let rule_id: Uuid = created["id"].as_str().unwrap_or_default().parse()?;
    assert_eq!(call(port, "GET", "/v1/alert-rules", VIEWER, None)?.0, 403, "rules name people's lists");
    let (_, shown) = call(port, "GET", &format!("/v1/alert-rules/{rule_id}"), ANALYST, None)?;
    assert_eq!(shown["channels"]["webhook"]["secret"], "***", "secrets are masked for analysts");
    let (_, shown) = call(port, "GET", &format!("/v1/alert-rules/{rule_id}"), ADMIN, None)?;
    assert_eq!(shown["channels"]["webhook"]["secret"], SECRET, "admins see the secret");
    // An operator saves the rule as shown, secret masked: the stored secret stays.
    let (_, as_shown) = call(port, "GET", &format!("/v1/alert-rules/{rule_id}"), OPERATOR, None)?;
    let mut resent = as_shown.clone();
    for key in ["id", "created_ms"] {
        resent.as_object_mut().map(|o| o.remove(key));
    }
    let (status, saved) = call(port, "PUT", &format!("/v1/alert-rules/{rule_id}"), OPERATOR, Some(resent.clone()))?;
    assert_eq!(status, 200, "{saved}");
    let (_, kept) = call(port, "GET", &format!("/v1/alert-rules/{rule_id}"), ADMIN, None)?;
    assert_eq!(kept["channels"]["webhook"]["secret"], SECRET, "the masked secret sent back keeps the stored one");
    resent["name"] = json!("Door copy");
    let (status, refused) = call(port, "POST", "/v1/alert-rules", OPERATOR, Some(resent))?;
    assert!(status == 400 && refused["error"].as_str().is_some_and(|e| e.contains("no stored secret")), "{refused}");
    assert_eq!(call(port, "GET", "/v1/alerts/live", VIEWER, None)?.0, 403, "viewers get no live feed");
    let live = subscribe_live(port, ANALYST).await?;
    // Rules apply within a second of their change (the notifier reloads on notification).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Ann's track: the alert arrives after its first report, before the track ends.
    let reports = Reports::new();
    let ann = person_match(list, person, "Ann Example", 0.83);
    let stream_id = stream.to_string();
    let track = Uuid::new_v4().to_string();
    let t0 = now_ms();
    let first = reports.report(&stream_id, &track, 0, TrackReportKind::First, t0, Some(&ann));
    produce_raw(&stack::kafka(), &test.iso.topic, &[first]).await?;
    let webhook = eventually(Duration::from_secs(10), "the webhook of Ann's first report", || async {
        Ok(receiver.hooks("door").into_iter().next())
    })
    .await?;
    let alert_id = webhook.idempotency_key.clone();
    assert_eq!(alert_id, sightline_notifier::raise::alert_id(rule_id, &stream_id, &track).to_string());
    assert!(webhook.signature_valid, "the HMAC-SHA256 signature verifies: {webhook:?}");
    assert_eq!(webhook.body["person"]["display_name"], "Ann Example");
    assert_eq!(webhook.body["list"]["name"], "Banned");
    assert_eq!(webhook.body["stream_id"], stream_id.as_str());
    assert_eq!(webhook.body["site"], "door");
    assert!((webhook.body["similarity"].as_f64().unwrap_or_default() - 0.83).abs() < 1e-6);
    assert!(webhook.body["best_shot_url"].as_str().is_some_and(|u| u.ends_with("/best-shot")), "{webhook:?}");
    // Later reports of the track, a stranger, a match below the rule's similarity, Ann on a stream
    // the rule does not watch, and Ann's second track within the cooldown raise nothing more.
    let stranger = Uuid::new_v4().to_string();
    let mut later = vec![
        reports.report(&stream_id, &track, 1, TrackReportKind::Improved, t0 + 400, Some(&ann)),
        reports.report(&stream_id, &track, 2, TrackReportKind::Ended, t0 + 2_000, Some(&ann)),
        reports.report(&stream_id, &stranger, 0, TrackReportKind::First, t0 + 100, None),
        reports.report(&stream_id, &stranger, 1, TrackReportKind::Ended, t0 + 900, None),
    ];
    let weak = person_match(list, person, "Ann Example", 0.55);
    later.push(reports.report(
        &stream_id,
        &Uuid::new_v4().to_string(),
        0,
        TrackReportKind::Ended,
        t0 + 500,
        Some(&weak),
    ));
    let elsewhere = Uuid::new_v4().to_string();
    later.push(reports.report(
        &elsewhere,
        &Uuid::new_v4().to_string(),
        0,
        TrackReportKind::Ended,
        t0 + 500,
        Some(&ann),
    ));
    let second_track = Uuid::new_v4().to_string();
    later.push(reports.report(&stream_id, &second_track, 0, TrackReportKind::First, t0 + 60_000, Some(&ann)));
    // A message the notifier cannot decode goes to the dead-letter topic.
    later.push((stream_id.clone(), b"\xff\xfenot protobuf".to_vec()));
    produce_raw(&stack::kafka(), &test.iso.topic, &later).await?;
    eventually(Duration::from_secs(20), "the poison message dead-lettered", || async {
        Ok((notifier.metric("sightline_notifier_dead_lettered_total")? == 1.0).then_some(()))
    })
    .await?;
    eventually(Duration::from_secs(20), "every report read", || async {
        Ok((notifier.metric("sightline_notifier_consumed_total")? == 9.0).then_some(()))
    })
    .await?;
    // Mail and Kafka are delivered too; then every delivery of the alert is recorded.
    let mails = eventually(Duration::from_secs(30), "the alert mail", || async {
        Ok(Some(mails_to(&mail_to)?).filter(|m| !m.is_empty()))
    })
    .await?;
    let (_, detail) = eventually(Duration::from_secs(30), "all deliveries recorded", || async {
        let (status, detail) = call(port, "GET", &format!("/v1/alerts/{alert_id}"), ANALYST, None)?;
        let delivered = detail["deliveries"]
            .as_array()
            .is_some_and(|d| d.len() == 4 && d.iter().all(|x| x["status"] == "delivered"));
        Ok(delivered.then_some((status, detail)))
    })
    .await?;
    assert_eq!(
        detail["attempts"].as_array().map(Vec::len),
        Some(3),
        "one attempt each for webhook, email, kafka: {detail}"
    );
    assert_eq!(notifier.metric("sightline_notifier_alerts_skipped_total")?, 1.0, "the second track is in the cooldown");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.hooks("door").len(), 1, "exactly one webhook: {:?}", receiver.hooks("door"));
    assert_eq!(mails_to(&mail_to)?.len(), 1, "exactly one mail");
    let mail = &mails[0];
    assert!(mail.contains("Subject: Watchlist alert: Ann Example (Banned) on door"), "{mail}");
    assert!(mail.contains(&format!("Message-ID: <alert-{alert_id}@sightline>")), "{mail}");
    assert!(mail.contains("best-shot.jpg") && mail.contains("image/jpeg"), "the best shot is attached");
    let feed = live.lock().unwrap().clone();
    assert_eq!(feed.len(), 1, "exactly one live-feed message: {feed:?}");
    assert_eq!(feed[0]["alert_id"], alert_id.as_str());
    assert_eq!(feed[0]["has_best_shot"], true, "{feed:?}");
    // The best shot of the raising report, for screens (analysts and up).
    let best_shot = format!("/v1/alerts/{alert_id}/best-shot");
    let shot = http_exchange(port, "GET", &best_shot, Some(ANALYST), "", b"")?;
    assert_eq!((shot.status, shot.header("content-type")), (200, Some("image/jpeg")));
    assert!(shot.body.starts_with(&[0xff, 0xd8]), "a JPEG");
    // It is the report's object in the object store (the writer's key), not bytes in PostgreSQL.
    let (kept_bytes, key): (bool, Option<String>) =
        sqlx::query_as("SELECT best_shot_jpeg IS NOT NULL, best_shot_key FROM alerts WHERE id = $1::uuid")
            .bind(&alert_id)
            .fetch_one(&test.db.pool)
            .await?;
    let key = key.expect("the alert names its best shot's object");
    assert!(!kept_bytes && key.starts_with("best-shots/"), "{key}");
    let stored = stack::object_store(&test.iso.database)?.get(&key).await?;
    assert_eq!(stored.as_deref(), Some(shot.body.as_slice()), "the stored object is the JPEG served");
    assert_eq!(http_exchange(port, "GET", &best_shot, Some(VIEWER), "", b"")?.status, 403);
    let unknown = format!("/v1/alerts/{}/best-shot", Uuid::new_v4());
    assert_eq!(http_exchange(port, "GET", &unknown, Some(ANALYST), "", b"")?.status, 404);
    assert_eq!(test.alert_count().await?, 1);
    let (status, listed) = call(port, "GET", &format!("/v1/alerts?rule={rule_id}"), ANALYST, None)?;
    assert_eq!(status, 200);
    assert_eq!(listed["alerts"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(call(port, "GET", "/v1/alerts?limit=0", ANALYST, None)?.0, 400);
    assert_eq!(call(port, "GET", "/v1/alerts?colour=red", ANALYST, None)?.0, 400);
    assert_eq!(call(port, "GET", "/v1/alerts", VIEWER, None)?.0, 403);
    // The alert on the alerts topic, for downstream programs.
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{tag}-alerts-reader")).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = config.create()?;
    reader.subscribe(&[test.alerts_topic.as_str()])?;
    let message = tokio::time::timeout(Duration::from_secs(30), reader.recv()).await??;
    let produced = AlertEvent::decode(message.payload().unwrap_or_default())?;
    assert_eq!(produced.alert_id, alert_id);
    assert_eq!(message.key(), Some(stream_id.as_bytes()), "keyed by stream");
    assert_eq!(produced.r#match.as_ref().map(|m| m.person_display_name.as_str()), Some("Ann Example"));
    // The dead letter names its reason.
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{tag}-dlq-reader")).set("auto.offset.reset", "earliest");
    let dlq: StreamConsumer = config.create()?;
    dlq.subscribe(&[test.iso.dlq_topic.as_str()])?;
    let letter = tokio::time::timeout(Duration::from_secs(30), dlq.recv()).await??;
    assert_eq!(stack::header(&letter, "dlq.reason"), "decode");
    assert!(stack::header(&letter, "dlq.consumer").starts_with("sightline-notifier/"));

    // Receiver failures: 5xx is retried until it passes; 4xx is recorded and not retried.
    let flaky = json!({"name": "Flaky", "list_ids": [list], "cooldown_secs": 0,
                       "channels": {"webhook": {"url": hook_url("flaky"), "secret": SECRET}}});
    let refusing = json!({"name": "Refusing", "list_ids": [list], "cooldown_secs": 0,
                          "channels": {"webhook": {"url": hook_url("refusing"), "secret": SECRET}}});
    receiver.answer("flaky", 503);
    receiver.answer("refusing", 400);
    for body in [flaky, refusing] {
        assert_eq!(call(port, "POST", "/v1/alert-rules", OPERATOR, Some(body))?.0, 201);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t1 = now_ms();
    let track = Uuid::new_v4().to_string();
    produce_raw(
        &stack::kafka(),
        &test.iso.topic,
        &[reports.report(&stream_id, &track, 0, TrackReportKind::First, t1, Some(&ann))],
    )
    .await?;
    eventually(Duration::from_secs(20), "two failed attempts at the flaky receiver", || async {
        Ok((receiver.hooks("flaky").len() >= 2).then_some(()))
    })
    .await?;
    receiver.answer("flaky", 200);
    eventually(Duration::from_secs(30), "the flaky receiver's delivery", || async {
        Ok((receiver.delivered("flaky").len() == 1).then_some(()))
    })
    .await?;
    assert_eq!(receiver.hooks("refusing").len(), 1, "a 4xx answer is not retried");
    let refused: (String, i32, String) = sqlx::query_as(
        "SELECT d.status, d.attempts, d.last_error FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
         JOIN alert_rules r ON r.id = a.rule_id WHERE r.name = 'Refusing'",
    )
    .fetch_one(&test.db.pool)
    .await?;
    assert_eq!((refused.0.as_str(), refused.1), ("failed", 1), "{refused:?}");
    let said = "the receiver refused the alert (400 Bad Request); it is not sent again on its own: check what the receiver accepts";
    assert_eq!(refused.2, said, "the refusal in words");
    let flaky_keys: BTreeSet<String> = receiver.hooks("flaky").into_iter().map(|h| h.idempotency_key).collect();
    assert_eq!(flaky_keys.len(), 1, "every retry carries the same idempotency key");

    // The receiver down for 20 s: the alerts raised meanwhile arrive after it returns.
    server.abort();
    let _ = (&mut server).await;
    let burst: Vec<_> = (0..5)
        .map(|i| {
            reports.report(
                &stream_id,
                &Uuid::new_v4().to_string(),
                0,
                TrackReportKind::First,
                t1 + 1_000 * (i + 1),
                Some(&ann),
            )
        })
        .collect();
    produce_raw(&stack::kafka(), &test.iso.topic, &burst).await?;
    eventually(Duration::from_secs(20), "the burst's alerts raised", || async {
        Ok((test.alert_count().await? == 1 + 2 + 5 * 2).then_some(()))
    })
    .await?;
    // Meanwhile the deliveries say why, in words that name the receiver's address.
    let refused_by =
        format!("connection refused by 127.0.0.1:{receiver_port} (nothing listens on that port); it is sent again");
    eventually(Duration::from_secs(20), "a delivery waiting on the receiver says why", || async {
        let waiting: Vec<(String,)> =
            sqlx::query_as("SELECT last_error FROM alert_deliveries WHERE status <> 'delivered' AND last_error = $1")
                .bind(&refused_by)
                .fetch_all(&test.db.pool)
                .await?;
        Ok((!waiting.is_empty()).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(15)).await;
    server = receiver.serve(receiver_port).await?;
    eventually(Duration::from_secs(90), "every alert delivered after the receiver returned", || async {
        Ok((receiver.delivered("flaky").len() == 6).then_some(()))
    })
    .await?;

    // SIGKILL mid-stream: no alert is lost or raised twice.
    let storm: Vec<_> = (0..40)
        .map(|i| {
            reports.report(
                &stream_id,
                &Uuid::new_v4().to_string(),
                0,
                TrackReportKind::First,
                t1 + 10_000 + i * 10,
                Some(&ann),
            )
        })
        .collect();
    let producing = {
        let (kafka, topic) = (stack::kafka(), test.iso.topic.clone());
        tokio::spawn(async move {
            for chunk in storm.chunks(4) {
                produce_raw(&kafka, &topic, chunk).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };
    eventually(Duration::from_secs(20), "the storm under way", || async {
        Ok((receiver.delivered("flaky").len() > 8).then_some(()))
    })
    .await?;
    notifier.kill();
    producing.await??;
    let notifier = test.start(&group, &format!("{group}-restarted"))?;
    eventually(Duration::from_secs(90), "all 46 alerts delivered once each", || async {
        Ok((receiver.delivered("flaky").len() == 46).then_some(()))
    })
    .await?;
    let flaky_alerts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE r.name = 'Flaky'",
    )
    .fetch_one(&test.db.pool)
    .await?;
    assert_eq!(flaky_alerts, 46, "one alert per track, none raised twice");

    // A replay of the whole topic (a new consumer group) raises nothing new and delivers nothing.
    // Counted once no delivery is pending and the notifier has stopped: the SIGKILL may have cut a
    // delivery between sending and recording it, which is sent again (same idempotency key) when
    // its 60 s lease runs out, by whichever instance is running then. That is the at-least-once
    // retry, not the replay.
    eventually(Duration::from_secs(120), "no delivery pending", || async {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_deliveries WHERE status = 'pending'")
            .fetch_one(&test.db.pool)
            .await?;
        Ok((pending == 0).then_some(()))
    })
    .await?;
    notifier.terminate(Duration::from_secs(20));
    let hooks_before = receiver.all().len();
    let alerts_before = test.alert_count().await?;
    let replay = test.start(&format!("{group}-replay"), &format!("{group}-replay"))?;
    eventually(Duration::from_secs(60), "the replay read the whole topic", || async {
        Ok((replay.metric("sightline_notifier_consumed_total")? >= 9.0 + 1.0 + 5.0 + 40.0).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(test.alert_count().await?, alerts_before, "a replay raises no alert");
    assert_eq!(receiver.all().len(), hooks_before, "a replay delivers nothing");
    assert_eq!(replay.metric("sightline_notifier_alerts_raised_total")?, 0.0);
    assert!(receiver.hooks("door").iter().chain(&receiver.hooks("flaky")).all(|h| h.signature_valid));
    drop(replay);
    drop(server);
    test.db.remove().await?;
    Ok(())
}

/// A live feed lives only as long as the credential that opened it: a revoked token, a session that
/// logged out and a disabled user's session each get `event: ended` and a closed connection within
/// a second or so of the change, and no alert after it, while a feed on a valid token receives the
/// alert. A ticket opens the feed once; a token in the URL is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_feeds_end_when_their_credential_ends() -> anyhow::Result<()> {
    use sightline_common::accounts::{self, AccountSettings, UserChange};
    use sightline_testkit::alerts::{live_ticket, open_live};
    let (test, list, person, stream) = NotifierTest::create("livefeed").await?;
    let port = test.api_port;
    let pool = &test.db.pool;
    // An alert whose live delivery no notifier published (raised while the followers were not
    // listening): the notifier publishes it once it listens, records it delivered only then, and
    // never claims it as a delivery of its own.
    let missed_rule: Uuid = sqlx::query_scalar(
        "INSERT INTO alert_rules (name, channels, enabled) VALUES ('Missed', '{\"live\": true}', false) RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    let missed = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO alerts (id, rule_id, stream_id, track_id, event_id, list_id, list_name, person_id, \
         person_display_name, similarity, first_seen_ms, capture_time_ms) \
         VALUES ($1, $2, $3, 'missed-track', 'missed-event', $4, 'Banned', $5, 'Ann Example', 0.8, $6, $6)",
    )
    .bind(missed)
    .bind(missed_rule)
    .bind(stream.to_string())
    .bind(list)
    .bind(person)
    .bind(now_ms())
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO alert_deliveries (alert_id, channel, target) VALUES ($1, 'live', 'true')")
        .bind(missed)
        .execute(pool)
        .await?;
    let notifier = test.start_and_wait().await?;
    let (status, attempts): (String, i32) =
        eventually(Duration::from_secs(20), "the missed alert published", || async {
            let row: (String, i32) = sqlx::query_as(
                "SELECT status, attempts FROM alert_deliveries WHERE alert_id = $1 AND channel = 'live'",
            )
            .bind(missed)
            .fetch_one(pool)
            .await?;
            Ok((row.0 != "pending").then_some(row))
        })
        .await?;
    assert_eq!((status.as_str(), attempts), ("delivered", 1), "published by the follower, not claimed");
    let rule = json!({"name": "Live", "list_ids": [list], "channels": {"live": true}});
    assert_eq!(call(port, "POST", "/v1/alert-rules", OPERATOR, Some(rule))?.0, 201);

    // A token to revoke, and two users with a session each (one logs out, one is disabled).
    let doomed = sightline_common::auth::issue(pool, "doomed", Role::Analyst, None).await?;
    let settings = AccountSettings::default();
    let password = "a long enough password";
    let mut sessions = Vec::new();
    for name in ["leaver", "disabled"] {
        let id = accounts::create_user(pool, name, password, Role::Analyst).await?;
        sessions.push((id, accounts::login(pool, &settings, name, password, None).await?));
    }
    let cookie = |secret: &str| format!("{}={secret}", accounts::SESSION_COOKIE);
    let bearer = |token: &str| format!("Bearer {token}");

    // The feeds: a valid token's, the doomed token's (by ticket), the leaver's (by cookie) and the
    // disabled user's (by a ticket asked with the session).
    let ticket = live_ticket(port, &[("Authorization", &bearer(ANALYST))])?;
    let path = |ticket: &str| format!("/v1/alerts/live?ticket={ticket}");
    let valid = open_live(port, &path(&ticket), &[]).await?;
    let reused = http_exchange(port, "GET", &path(&ticket), None, "", b"")?;
    assert_eq!(reused.status, 401, "a ticket opens the feed once");
    let in_url = http_exchange(port, "GET", &format!("/v1/alerts/live?access_token={ANALYST}"), None, "", b"")?;
    assert_eq!(in_url.status, 400, "a token in the URL is refused");
    let doomed_ticket = live_ticket(port, &[("Authorization", &bearer(&doomed.token))])?;
    let revoked = open_live(port, &path(&doomed_ticket), &[]).await?;
    let leaver_cookie = cookie(&sessions[0].1.secret);
    let logged_out = open_live(port, "/v1/alerts/live", &[("Cookie", &leaver_cookie)]).await?;
    let disabled_cookie = cookie(&sessions[1].1.secret);
    let session_headers = [("Cookie", disabled_cookie.as_str()), ("X-CSRF-Token", sessions[1].1.csrf_token.as_str())];
    let disabled = open_live(port, &path(&live_ticket(port, &session_headers)?), &[]).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for feed in [&valid, &revoked, &logged_out, &disabled] {
        assert!(!feed.closed.load(std::sync::atomic::Ordering::SeqCst), "every feed is open before the changes");
    }

    // Revocation, logout, disabling.
    let changed = std::time::Instant::now();
    assert!(sightline_common::auth::revoke(pool, doomed.id).await?);
    sqlx::query("UPDATE sessions SET ended_at = now() WHERE user_id = $1").bind(sessions[0].0).execute(pool).await?;
    accounts::update_user(pool, sessions[1].0, UserChange { disabled: Some(true), ..Default::default() }).await?;
    for (what, feed) in [("revoked token", &revoked), ("logged-out session", &logged_out), ("disabled user", &disabled)]
    {
        eventually(Duration::from_secs(10), &format!("the {what}'s feed ended"), || async {
            Ok(feed.closed.load(std::sync::atomic::Ordering::SeqCst).then_some(()))
        })
        .await?;
        let ended = feed.ended.lock().unwrap().clone();
        assert!(ended.as_ref().is_some_and(|e| e["reason"].as_str().is_some_and(|r| r.contains("ended"))), "{ended:?}");
    }
    let took = changed.elapsed();
    assert!(took < Duration::from_secs(3), "the feeds ended {took:?} after the changes");
    assert!(!valid.closed.load(std::sync::atomic::Ordering::SeqCst), "the valid token's feed stays open");

    // Ann is seen: the valid feed receives the alert; the ended ones received nothing.
    let reports = Reports::new();
    let ann = person_match(list, person, "Ann Example", 0.83);
    let track = Uuid::new_v4().to_string();
    let first = reports.report(&stream.to_string(), &track, 0, TrackReportKind::First, now_ms(), Some(&ann));
    produce_raw(&stack::kafka(), &test.iso.topic, &[first]).await?;
    eventually(Duration::from_secs(20), "the alert on the valid feed", || async {
        Ok((valid.alerts.lock().unwrap().len() == 1).then_some(()))
    })
    .await?;
    for feed in [&revoked, &logged_out, &disabled] {
        assert!(feed.alerts.lock().unwrap().is_empty(), "an ended feed received no alert");
    }
    // A ticket of a revoked token opens nothing.
    let late = live_ticket(port, &[("Authorization", &bearer(&doomed.token))]);
    assert!(late.is_err_and(|e| e.to_string().contains("401")), "a revoked token gets no ticket");
    drop(notifier);
    test.db.remove().await?;
    Ok(())
}

/// The alert desk over the API: alerts paged by cursor with the filters' total, filtered by state,
/// stream and time; acknowledged by one person, refused to a second (409 naming who took it),
/// resolved only with a note, each step logged with who and when and announced on the live feed;
/// the unread count follows; a failed webhook sent again from the desk is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_desk_pages_filters_and_logs_who_handled_each_alert() -> anyhow::Result<()> {
    use sightline_testkit::alerts::{live_ticket, open_live};
    let (test, list, person, stream) = NotifierTest::create("alert_desk").await?;
    let port = test.api_port;
    let receiver = WebhookReceiver::new(SECRET);
    let receiver_port = stack::free_port()?;
    let _server = receiver.serve(receiver_port).await?;
    receiver.answer("desk", 400);
    let notifier = test.start_and_wait().await?;
    let rule = json!({"name": "Desk", "list_ids": [list], "cooldown_secs": 0,
                      "channels": {"live": true, "webhook": {"url": format!("http://127.0.0.1:{receiver_port}/hooks/desk"), "secret": SECRET}}});
    let (status, created) = call(port, "POST", "/v1/alert-rules", OPERATOR, Some(rule))?;
    assert_eq!(status, 201, "{created}");
    let ticket = live_ticket(port, &[("Authorization", &format!("Bearer {ANALYST}"))])?;
    let feed = open_live(port, &format!("/v1/alerts/live?ticket={ticket}"), &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Five tracks of Ann: three at the door, two on another camera.
    let reports = Reports::new();
    let ann = person_match(list, person, "Ann Example", 0.83);
    let (door, other) = (stream.to_string(), Uuid::new_v4().to_string());
    let before = now_ms();
    let messages: Vec<_> = (0..5)
        .map(|i| {
            let on = if i < 3 { &door } else { &other };
            reports.report(on, &Uuid::new_v4().to_string(), 0, TrackReportKind::First, now_ms(), Some(&ann))
        })
        .collect();
    produce_raw(&stack::kafka(), &test.iso.topic, &messages).await?;
    eventually(Duration::from_secs(30), "five alerts", || async { Ok((test.alert_count().await? == 5).then_some(())) })
        .await?;

    // Pages of two, by cursor: every alert once, the total on each page.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for expected in [2, 2, 1] {
        let path = match &cursor {
            Some(cursor) => format!("/v1/alerts?limit=2&cursor={cursor}"),
            None => "/v1/alerts?limit=2".to_owned(),
        };
        let (status, page) = call(port, "GET", &path, ANALYST, None)?;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 5, "{page}");
        let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
        assert_eq!(alerts.len(), expected, "{page}");
        seen.extend(alerts.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)));
        assert!(alerts.iter().all(|a| a["state"] == "new"), "{page}");
        cursor = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!((seen.len(), cursor), (5, None), "every alert once, then no next page");
    let total = |query: &str| -> anyhow::Result<serde_json::Value> {
        let (status, page) = call(port, "GET", &format!("/v1/alerts?{query}"), ANALYST, None)?;
        assert_eq!(status, 200, "{query}: {page}");
        Ok(page["total"].clone())
    };
    assert_eq!(total(&format!("stream={door}"))?, 3);
    assert_eq!(total(&format!("list={list}&person={person}"))?, 5);
    assert_eq!(total(&format!("list={}", Uuid::new_v4()))?, 0);
    assert_eq!(total(&format!("from={before}&to={}", now_ms() + 1000))?, 5);
    assert_eq!(total(&format!("from={}", now_ms() + 60_000))?, 0, "none raised in the future");
    assert_eq!(call(port, "GET", "/v1/alerts?state=closed", ANALYST, None)?.0, 400);
    assert_eq!(call(port, "GET", "/v1/alerts/counts", ANALYST, None)?.1, json!({"new": 5, "acknowledged": 0}));
    assert_eq!(call(port, "GET", "/v1/alerts/counts", VIEWER, None)?.0, 403);

    // Vera (the analyst token) acknowledges; a colleague's acknowledge is refused, naming her.
    let alert = seen.iter().next().cloned().unwrap_or_default();
    let actions = format!("/v1/alerts/{alert}/actions");
    let (status, acknowledged) = call(port, "POST", &actions, ANALYST, Some(json!({"action": "acknowledge"})))?;
    assert_eq!(status, 200, "{acknowledged}");
    assert_eq!(
        (acknowledged["state"].as_str(), acknowledged["handled_by"].as_str()),
        (Some("acknowledged"), Some("analyst"))
    );
    let (status, refused) = call(port, "POST", &actions, OPERATOR, Some(json!({"action": "acknowledge"})))?;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("acknowledged (by analyst)")), "{refused}");
    let (status, refused) = call(port, "POST", &actions, OPERATOR, Some(json!({"action": "resolve", "note": " "})))?;
    assert!(status == 400 && refused["error"].as_str().is_some_and(|e| e.starts_with("note")), "{refused}");
    assert_eq!(call(port, "POST", &actions, OPERATOR, Some(json!({"action": "close"})))?.0, 400);
    assert_eq!(call(port, "POST", &actions, VIEWER, Some(json!({"action": "acknowledge"})))?.0, 403);
    let unknown = format!("/v1/alerts/{}/actions", Uuid::new_v4());
    assert_eq!(call(port, "POST", &unknown, OPERATOR, Some(json!({"action": "acknowledge"})))?.0, 404);
    let resolve = json!({"action": "resolve", "note": "a visitor, let in"});
    let (status, resolved) = call(port, "POST", &actions, OPERATOR, Some(resolve))?;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!((resolved["state"].as_str(), resolved["note"].as_str()), (Some("resolved"), Some("a visitor, let in")));
    let log: Vec<(String, String, String)> = resolved["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["action"].to_string(), a["by"].to_string(), a["note"].to_string()))
        .collect();
    assert_eq!(
        log,
        [
            ("\"acknowledged\"".into(), "\"analyst\"".into(), "\"\"".into()),
            ("\"resolved\"".into(), "\"operator\"".into(), "\"a visitor, let in\"".into())
        ],
        "{resolved}"
    );
    assert_eq!(call(port, "GET", "/v1/alerts/counts", ANALYST, None)?.1, json!({"new": 4, "acknowledged": 0}));
    assert_eq!(total("state=new")?, 4);
    assert_eq!(total("state=open")?, 4);
    assert_eq!(total("state=resolved")?, 1);
    assert_eq!(total("q=ann%20EX")?, 5, "a search by name, in any case");
    assert_eq!(total("q=visitor")?, 1, "a search by note");
    assert_eq!(total("q=50%25")?, 0, "a % searched for, not a wildcard");
    // Every desk was told of both steps (each event carries the alert's state when it is sent, so
    // a follower behind may send "resolved" twice), the last one resolved.
    eventually(Duration::from_secs(10), "both steps on the live feed", || async {
        let changed = feed.changed.lock().unwrap().clone();
        let states: Vec<_> =
            changed.iter().filter(|c| c["alert_id"] == alert.as_str()).map(|c| c["state"].clone()).collect();
        Ok((states.len() == 2 && states.last() == Some(&json!("resolved"))).then_some(()))
    })
    .await?;

    // The webhook refused it (400, not sent again); the receiver is fixed and the desk sends it again.
    let webhook_of = |detail: &serde_json::Value| {
        detail["deliveries"].as_array().into_iter().flatten().find(|d| d["channel"] == "webhook").cloned()
    };
    let retry = format!("/v1/alerts/{alert}/deliveries/webhook/retry");
    eventually(Duration::from_secs(20), "the refused webhook recorded", || async {
        let (_, detail) = call(port, "GET", &format!("/v1/alerts/{alert}"), ANALYST, None)?;
        Ok(webhook_of(&detail).filter(|d| d["status"] == "failed").map(|_| ()))
    })
    .await?;
    receiver.answer("desk", 200);
    let (status, retried) = call(port, "POST", &retry, ANALYST, Some(json!({})))?;
    assert_eq!(status, 202, "{retried}");
    eventually(Duration::from_secs(20), "the webhook delivered on the second attempt", || async {
        let (_, detail) = call(port, "GET", &format!("/v1/alerts/{alert}"), ANALYST, None)?;
        Ok(webhook_of(&detail).filter(|d| d["status"] == "delivered" && d["attempts"] == 2).map(|_| ()))
    })
    .await?;
    assert!(receiver.delivered("desk").contains(&alert), "the receiver got it");
    let (status, refused) = call(port, "POST", &retry, ANALYST, Some(json!({})))?;
    assert!(status == 409 && refused["error"].as_str().is_some_and(|e| e.contains("delivered")), "{refused}");
    let live_retry = format!("/v1/alerts/{alert}/deliveries/live/retry");
    assert_eq!(call(port, "POST", &live_retry, ANALYST, Some(json!({})))?.0, 409);
    let mail_retry = format!("/v1/alerts/{alert}/deliveries/email/retry");
    assert_eq!(call(port, "POST", &mail_retry, ANALYST, Some(json!({})))?.0, 404, "the rule sends no mail");
    let (_, detail) = call(port, "GET", &format!("/v1/alerts/{alert}"), ANALYST, None)?;
    assert_eq!(detail["actions"][2]["action"], "retried", "{detail}");
    assert_eq!(detail["actions"][2]["note"], "webhook", "{detail}");
    drop(notifier);
    test.db.remove().await?;
    Ok(())
}
