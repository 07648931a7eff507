//! End-to-end tests of the writer's guarantee on the real broker (tansu) and ClickHouse (18.16):
//! every produced event is visible exactly once, whatever happens to the writer or the warehouse.
//!
//! Each test has its own topics, consumer group and database (see `Isolation`), and runs the real
//! `sightline-writer` binary as a process, so SIGKILL and SIGTERM are real.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use anyhow::Context;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_common::warehouse::ClickHouseSettings;
use sightline_schemas::v1::{EnrichedEvent, SCHEMA_VERSION};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce, produce_raw};
use sightline_testkit::stack::{
    self, Isolation, PrivateClickHouse, ServiceProcess, event_counts, event_ids, eventually,
};
use std::collections::BTreeMap;
use std::time::Duration;

const LANDING_TIMEOUT: Duration = Duration::from_secs(120);

fn generator(seed: u64) -> EventGenerator {
    EventGenerator::new(LoadProfile { seed, ..Default::default() })
}

/// Waits until `expected` events are visible, then checks they are exactly the produced ones.
async fn assert_exactly(clickhouse: &ClickHouseSettings, produced: &[String]) -> anyhow::Result<()> {
    let expected = produced.len() as u64;
    eventually(LANDING_TIMEOUT, &format!("{expected} visible events"), || async {
        let (visible, _) = event_counts(clickhouse).await?;
        anyhow::ensure!(visible <= expected, "{visible} visible events, more than the {expected} produced");
        Ok((visible == expected).then_some(()))
    })
    .await?;
    let (visible, distinct) = event_counts(clickhouse).await?;
    assert_eq!((visible, distinct), (expected, expected), "visible rows and distinct ids");
    let mut want = produced.to_vec();
    want.sort();
    assert_eq!(event_ids(clickhouse).await?, want, "the visible events are exactly the produced ones");
    Ok(())
}

/// The first letter on `iso`'s dead-letter topic (waiting up to 60 s), read by a group of its own.
async fn first_dead_letter(
    kafka: &sightline_common::kafka::KafkaSettings,
    iso: &Isolation,
) -> anyhow::Result<rdkafka::message::OwnedMessage> {
    let mut config = kafka.client_config();
    config.set("group.id", format!("{}-dlq-reader", iso.group)).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = config.create()?;
    reader.subscribe(&[&iso.dlq_topic])?;
    let letter = tokio::time::timeout(Duration::from_secs(60), reader.recv()).await.context("no dead letter")??;
    Ok(letter.detach())
}

/// Waits until `writer` reports at least `at_least` landed events on its `/metrics`.
async fn wait_for_inserted(writer: &ServiceProcess, at_least: f64, what: &str) -> anyhow::Result<()> {
    eventually(LANDING_TIMEOUT, what, || async {
        Ok((writer.metric("sightline_writer_inserted_total").unwrap_or(0.0) >= at_least).then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_every_produced_event_is_visible_exactly_once() -> anyhow::Result<()> {
    let iso = Isolation::new("exactly", 3).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let produced = produce(&stack::kafka(), &iso.topic, &generator(11), 0, 3_000, None).await?;
    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[("BATCH_MAX_EVENTS", "500")])?;
    assert_exactly(&clickhouse, &produced).await?;

    // Matches and best shots landed with their events.
    let events = generator(11);
    let expected_matches: usize = (0..3_000).map(|i| events.event(i).matches.len()).sum();
    let client = clickhouse.read_client();
    let matches: u64 = client.query("SELECT count() FROM matches FINAL").fetch_one().await?;
    let shots: u64 = client
        .query("SELECT count() FROM best_shot_jpegs FINAL WHERE object_key != '' AND empty(jpeg) AND empty(sealed)")
        .fetch_one()
        .await?;
    assert_eq!(matches, expected_matches as u64);
    assert_eq!(shots, 3_000, "every best shot landed as its key");
    // The images are in the object store, as generated (in clear: the load is not sealed).
    let store = stack::object_store(&iso.database)?;
    let stored = store.list("best-shots/").await?;
    assert_eq!(stored.len(), 3_000);
    let first = events.event(0);
    let detection = first.detection.as_ref().expect("detection");
    let key = sightline_common::objects::best_shot_key(detection);
    assert_eq!(store.get(&key).await?, detection.best_shot_jpeg.clone(), "{key}");
    assert_eq!(writer.metric("sightline_writer_images_stored_total")?, 3_000.0);
    // The store's growth per camera: every image's bytes, under its stream.
    let bytes_of = |stream: Option<&str>| -> usize {
        (0..3_000)
            .filter_map(|i| events.event(i).detection)
            .filter(|d| stream.is_none_or(|s| d.stream_id == s))
            .map(|d| d.best_shot_jpeg.map_or(0, |j| j.len()))
            .sum()
    };
    assert_eq!(writer.metric("sightline_writer_image_bytes_total")?, bytes_of(None) as f64);
    let camera = r#"sightline_writer_image_bytes_total{stream="cam-01"}"#;
    assert_eq!(writer.metric(camera)?, bytes_of(Some("cam-01")) as f64);
    assert!(bytes_of(Some("cam-01")) > 0);

    let (status, ready) = writer.get("/readyz")?;
    assert_eq!((status, ready.trim()), (200, "ready"));
    assert_eq!(writer.metric("sightline_writer_inserted_total")?, 3_000.0);
    assert_eq!(writer.metric("sightline_writer_consumer_lag")?, 0.0);
    assert!(writer.terminate(Duration::from_secs(30)), "SIGTERM gives a clean exit");
    Ok(())
}

#[tokio::test]
async fn b_sigkill_mid_stream_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let iso = Isolation::new("sigkill", 3).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let total = 6_000u64;
    // Produce while the writer is repeatedly killed: 200 events/s for 30 s.
    let producer = {
        let topic = iso.topic.clone();
        tokio::spawn(async move { produce(&stack::kafka(), &topic, &generator(22), 0, total, Some(200.0)).await })
    };
    // Small, frequent batches so every kill lands between an insert and its offset commit or in
    // the middle of a batch. The shipped session timeout and group watch must replace each one.
    let settings = [("BATCH_MAX_EVENTS", "100"), ("BATCH_MAX_WAIT_MS", "100")];
    let mut visible_at_kills = Vec::new();
    for pause_ms in [700u64, 300, 1_100, 500] {
        let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &settings)?;
        // Kill it once it is landing events (it owns partitions and is mid-stream), not while
        // the group is still rebalancing.
        wait_for_inserted(&writer, 1.0, "the writer to land events").await?;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        writer.kill();
        visible_at_kills.push(event_counts(&clickhouse).await?.0);
    }
    let _writer = ServiceProcess::writer(&iso, &clickhouse, &[], &settings)?;
    let produced = producer.await??;
    assert_exactly(&clickhouse, &produced).await?;
    assert!(
        visible_at_kills.iter().all(|&v| v > 0 && v < total),
        "each kill came mid-stream (visible at kills: {visible_at_kills:?})"
    );
    assert!(visible_at_kills.windows(2).all(|w| w[0] <= w[1]), "{visible_at_kills:?}");
    Ok(())
}

#[tokio::test]
async fn c_replay_from_zero_and_rebuild_change_nothing() -> anyhow::Result<()> {
    let iso = Isolation::new("replay", 3).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let produced = produce(&stack::kafka(), &iso.topic, &generator(33), 0, 2_000, None).await?;
    let first = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    assert_exactly(&clickhouse, &produced).await?;
    assert!(first.terminate(Duration::from_secs(30)));
    let fingerprint = || async {
        clickhouse
            .read_client()
            .query(sightline_schemas::queries::CONTENT_FINGERPRINT)
            .fetch_one::<(u64, u64, u64, u64, u64, u64, u64, u64)>()
            .await
            .context("fingerprint")
    };
    let before = fingerprint().await?;

    // A new group replays the whole topic from offset 0 into the same tables.
    let replay_iso = Isolation { group: format!("{}-replay", iso.group), ..iso.clone() };
    let replay = ServiceProcess::writer(&replay_iso, &clickhouse, &[], &[])?;
    wait_for_inserted(&replay, 2_000.0, "the replaying writer to consume the topic").await?;
    let raw_rows: u64 = clickhouse.read_client().query("SELECT count() FROM events").fetch_one().await?;
    assert!(raw_rows >= 2_000, "replayed rows reached ClickHouse ({raw_rows} stored)");
    assert_exactly(&clickhouse, &produced).await?;
    assert_eq!(fingerprint().await?, before, "replay changed what queries see");
    assert!(replay.terminate(Duration::from_secs(30)));

    // Rebuild: empty the warehouse, rewind the group, replay: same results.
    let rebuild = ServiceProcess::writer(&iso, &clickhouse, &["rebuild"], &[])?;
    // Its metrics endpoint opens after the reset; wait until it replayed the topic.
    wait_for_inserted(&rebuild, 2_000.0, "the rebuilding writer to replay the topic").await?;
    assert_exactly(&clickhouse, &produced).await?;
    assert_eq!(fingerprint().await?, before, "rebuild from the log gives the same results");
    let stored: u64 = clickhouse.read_client().query("SELECT count() FROM events").fetch_one().await?;
    assert_eq!(stored, 2_000, "rebuild started from empty tables");
    // The replays stored the same best shots again, under the same keys.
    assert_eq!(stack::object_store(&iso.database)?.list("best-shots/").await?.len(), 2_000);
    assert!(rebuild.metric("sightline_writer_images_stored_total")? >= 2_000.0);
    assert!(rebuild.terminate(Duration::from_secs(30)));
    Ok(())
}

#[tokio::test]
async fn d_poison_messages_go_to_the_dlq_with_reasons() -> anyhow::Result<()> {
    let iso = Isolation::new("poison", 2).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let kafka = stack::kafka();
    let events = generator(44);
    let mut produced = produce(&kafka, &iso.topic, &events, 0, 300, None).await?;

    use prost::Message as _;
    // A later minor version with a field this build does not know (number 99, bytes "new"): read,
    // not dead-lettered, so producers may upgrade before consumers.
    let mut newer = events.event(10_000);
    newer.schema_version = SCHEMA_VERSION + 1;
    let mut newer_bytes = newer.encode_to_vec();
    newer_bytes.extend_from_slice(&[0x9a, 0x06, 3, b'n', b'e', b'w']);
    let mut no_stream = events.event(10_001);
    if let Some(d) = no_stream.detection.as_mut() {
        d.stream_id.clear();
    }
    let mut no_id = events.event(10_002);
    no_id.event_id.clear();
    let no_detection = EnrichedEvent { detection: None, ..events.event(10_003) };
    // A valid event but for its 1.2 MB best shot (over `limits.best_shot_max_bytes`), and 2 MB of
    // garbage: more than librdkafka's default 1,000,000-byte message, which once wedged the writer
    // on a dead letter it could not produce.
    let mut huge_shot = events.event(10_004);
    if let Some(d) = huge_shot.detection.as_mut() {
        d.best_shot_jpeg = Some(vec![0xab; 1_200_000]);
    }
    let mut garbage = vec![0xff_u8; 2_000_000];
    garbage[..3].copy_from_slice(b"\x08\x96\x01");
    // What the contract forbids: a NaN similarity, a box past the frame's edge, a rank the
    // warehouse cannot hold, an id in upper case.
    let with_match = |index: u64, change: &dyn Fn(&mut sightline_schemas::v1::MatchResult)| {
        let mut event = (index..).map(|i| events.event(i)).find(|e| !e.matches.is_empty()).expect("a matched event");
        event.event_id = uuid::Uuid::new_v4().to_string();
        change(&mut event.matches[0]);
        event
    };
    let nan_similarity = with_match(10_010, &|m| m.similarity = f32::NAN);
    let huge_rank = with_match(10_100, &|m| m.rank = 70_000);
    let mut outside = events.event(10_005);
    if let Some(b) = outside.detection.as_mut().and_then(|d| d.bbox.as_mut()) {
        b.x = 1_270.0;
    }
    let mut too_new = events.event(10_007);
    too_new.schema_version = 65_536;
    let mut upper_id = events.event(10_006);
    upper_id.event_id = upper_id.event_id.to_uppercase();
    let poison: Vec<(&str, Vec<u8>)> = vec![
        ("decode", b"\x08\x96\x01\xff\xff\xff\xff garbage".to_vec()),
        ("invalid", no_stream.encode_to_vec()),
        ("invalid", no_id.encode_to_vec()),
        ("invalid", no_detection.encode_to_vec()),
        ("too_large", huge_shot.encode_to_vec()),
        ("decode", garbage),
        ("invalid", nan_similarity.encode_to_vec()),
        ("invalid", huge_rank.encode_to_vec()),
        ("invalid", outside.encode_to_vec()),
        ("invalid", upper_id.encode_to_vec()),
        ("empty", Vec::new()),
        ("invalid", too_new.encode_to_vec()),
    ];
    let keyed: Vec<(String, Vec<u8>)> = poison.iter().map(|(_, p)| ("cam-00".to_owned(), p.clone())).collect();
    let positions = produce_raw(&kafka, &iso.topic, &keyed).await?;
    produce_raw(&kafka, &iso.topic, &[("cam-00".to_owned(), newer_bytes)]).await?;
    produced.push(newer.event_id.clone());
    produced.extend(produce(&kafka, &iso.topic, &events, 300, 300, None).await?);

    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    assert_exactly(&clickhouse, &produced).await?;
    let version: u16 = clickhouse
        .read_client()
        .query("SELECT schema_version FROM events WHERE event_id = toUUID(?)")
        .bind(newer.event_id.as_str())
        .fetch_one()
        .await?;
    assert_eq!(u32::from(version), SCHEMA_VERSION + 1, "the newer event landed with its version");

    // Read the DLQ back: one letter per poison message, with its reason and source position.
    let mut config = kafka.client_config();
    config.set("group.id", format!("{}-dlq-reader", iso.group)).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = config.create()?;
    reader.subscribe(&[&iso.dlq_topic])?;
    let mut letters: BTreeMap<(i32, i64), (String, String, Vec<u8>)> = BTreeMap::new();
    while letters.len() < poison.len() {
        let message = tokio::time::timeout(Duration::from_secs(30), reader.recv())
            .await
            .context("waiting for dead letters")??;
        message.headers().context("dead letter has headers")?;
        let header = |name: &str| stack::header(&message, name);
        assert_eq!(header("dlq.source.topic"), iso.topic);
        let position = (header("dlq.source.partition").parse()?, header("dlq.source.offset").parse()?);
        letters.insert(
            position,
            (header("dlq.reason"), header("dlq.detail"), message.payload().unwrap_or_default().to_vec()),
        );
    }
    for ((reason, payload), position) in poison.iter().zip(&positions) {
        let (got_reason, detail, got_payload) =
            letters.get(position).with_context(|| format!("no dead letter for {position:?}"))?;
        assert_eq!(got_reason, reason, "reason of the letter at {position:?} ({detail})");
        assert!(!detail.is_empty());
        assert_eq!(got_payload, payload, "the letter carries the original bytes");
    }
    assert_eq!(letters.len(), poison.len());
    assert_eq!(writer.metric("sightline_writer_dead_lettered_total")?, poison.len() as f64);
    Ok(())
}

#[tokio::test]
async fn e_clickhouse_outage_is_retried_without_loss() -> anyhow::Result<()> {
    let mut server = PrivateClickHouse::start().await?;
    let iso = Isolation::new("outage", 3).await?;
    let clickhouse = server.settings(&iso.database);
    let total = 4_000u64;
    let producer = {
        let topic = iso.topic.clone();
        tokio::spawn(async move { produce(&stack::kafka(), &topic, &generator(55), 0, total, Some(100.0)).await })
    };
    let writer = ServiceProcess::writer(
        &iso,
        &clickhouse,
        &[],
        &[("BATCH_MAX_EVENTS", "200"), ("BATCH_MAX_WAIT_MS", "200"), ("RETRY_MAX_MS", "2000")],
    )?;
    eventually(LANDING_TIMEOUT, "some events to land before the outage", || async {
        Ok((event_counts(&clickhouse).await?.0 >= 300).then_some(()))
    })
    .await?;

    server.stop()?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (status, reason) = writer.get("/readyz")?;
    assert_eq!(status, 503, "not ready while ClickHouse is down: {reason}");
    assert!(reason.contains("clickhouse"), "{reason}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let retries = writer.metric("sightline_writer_insert_retries_total")?;
    assert!(retries >= 3.0, "the writer backed off and retried ({retries} retries in 20 s)");
    assert!(retries <= 30.0, "the writer backs off rather than hammering ({retries} retries in 20 s)");
    server.resume().await?;

    let produced = producer.await??;
    assert_exactly(&clickhouse, &produced).await?;
    assert_eq!(writer.get("/readyz")?.0, 200);
    Ok(())
}

/// A group that cannot make progress says so on every member. Two writers share a one-partition
/// topic with lag while their warehouse is unreachable: the member that owns the partition is not
/// ready because nothing lands, the member that owns nothing is not ready because it has no share of
/// a stuck group, and it rejoins the group; both export the group's lag.
#[tokio::test]
async fn f_a_stuck_group_is_not_ready_on_every_member() -> anyhow::Result<()> {
    let iso = Isolation::new("stuck", 1).await?;
    produce(&stack::kafka(), &iso.topic, &generator(66), 0, 50, None).await?;
    let unreachable = ClickHouseSettings {
        url: format!("http://127.0.0.1:{}", stack::free_port()?),
        database: iso.database.clone(),
        ..Default::default()
    };
    let settings = [("MIGRATE_ON_START", "false")];
    let first = ServiceProcess::writer(&iso, &unreachable, &[], &settings)?;
    eventually(Duration::from_secs(60), "the first writer to own the partition", || async {
        Ok((first.metric("sightline_consumer_owned_partitions").unwrap_or(0.0) == 1.0).then_some(()))
    })
    .await?;
    let second = ServiceProcess::writer(&iso, &unreachable, &[], &settings)?;
    let reasons = eventually(Duration::from_secs(90), "both members to report the stuck group", || async {
        let (first_status, first_reason) = first.get("/readyz")?;
        let (second_status, second_reason) = second.get("/readyz")?;
        let rejoins =
            first.metric("sightline_consumer_rejoins_total")? + second.metric("sightline_consumer_rejoins_total")?;
        let reported = first_status == 503
            && second_status == 503
            && [&first_reason, &second_reason].iter().any(|r| r.contains("owns no partition"))
            && [&first_reason, &second_reason].iter().any(|r| r.contains("makes no progress"))
            && rejoins >= 1.0;
        Ok(reported.then_some((first_reason, second_reason)))
    })
    .await?;
    for writer in [&first, &second] {
        assert_eq!(writer.metric("sightline_consumer_group_lag")?, 50.0, "{reasons:?}");
    }
    Ok(())
}

/// A record the broker accepts but never serves (5 MiB and more on tansu, written by another
/// producer) stops its partition for good while the other partition moves: the writer is not ready
/// and names the partition and the offset; `sightline-admin group skip` refuses a wrong offset, then
/// moves the group past the record with a dead letter that records the skip, and everything else
/// lands.
#[tokio::test]
async fn i_a_partition_that_cannot_move_is_reported_and_skipped() -> anyhow::Result<()> {
    use rdkafka::producer::FutureRecord;
    let iso = Isolation::new("unservable", 2).await?;
    let kafka = stack::kafka();
    let mut produced = produce(&kafka, &iso.topic, &generator(88), 0, 100, None).await?;
    let foreign = sightline_common::kafka::KafkaSettings { max_message_bytes: 8 * 1024 * 1024, ..kafka.clone() };
    let unservable = vec![0x42_u8; 5 * 1024 * 1024 + 4096];
    let delivered = foreign
        .idempotent_producer()?
        .send(
            FutureRecord::<str, [u8]>::to(&iso.topic).partition(1).key("cam-big").payload(&unservable),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("producing the large record: {e}"))?;
    let (partition, offset) = (delivered.partition.to_string(), delivered.offset);
    produced.extend(produce(&kafka, &iso.topic, &generator(88), 100, 200, None).await?);
    produced.sort();
    let clickhouse = stack::clickhouse(&iso.database);
    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    let reason =
        eventually(Duration::from_secs(120), "the writer to name the partition that does not move", || async {
            let (status, reason) = writer.get("/readyz")?;
            Ok((status == 503 && reason.contains(&format!("partition {partition} at offset {offset}")))
                .then_some(reason))
        })
        .await?;
    assert!(!reason.contains("partition 0 at"), "partition 0 moves: {reason}");
    assert!(reason.contains("sightline-admin group skip"), "{reason}");
    let (visible, _) = event_counts(&clickhouse).await?;
    assert!(visible > 0 && visible < produced.len() as u64, "{visible} of {} landed", produced.len());
    assert!(writer.terminate(Duration::from_secs(30)), "the writer stops cleanly");

    // The operator skips it: a wrong offset is refused, the right one recorded and passed.
    let skip = |at: i64| {
        std::process::Command::new(stack::binary("sightline-admin").unwrap())
            .args(["group", "skip", "--group", &iso.group, "--topic", &iso.topic, "--partition", &partition])
            .args(["--offset", &at.to_string(), "--dlq-topic", &iso.dlq_topic, "--reason", "INC-42 unservable record"])
            .env("SIGHTLINE_ADMIN__KAFKA__BROKERS", &kafka.brokers)
            .output()
            .unwrap()
    };
    let refused = skip(offset + 1);
    assert!(!refused.status.success(), "a skip past records the group has not read is refused");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not at"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let done = skip(offset);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    assert_exactly(&clickhouse, &produced).await?;
    eventually(Duration::from_secs(60), "the writer ready again", || async {
        Ok((writer.get("/readyz")?.0 == 200).then_some(()))
    })
    .await?;
    let letter = first_dead_letter(&kafka, &iso).await?;
    let header = |name: &str| stack::header(&letter, name);
    assert_eq!(header("dlq.reason"), sightline_common::kafka::SKIPPED_REASON);
    assert_eq!((header("dlq.source.partition"), header("dlq.source.offset")), (partition.clone(), offset.to_string()));
    assert!(header("dlq.detail").contains("INC-42 unservable record"), "{}", header("dlq.detail"));
    Ok(())
}

/// A message the writer can read but whose dead letter cannot be produced whole (another producer
/// wrote 4.5 MiB of garbage; Sightline's producers write at most `kafka.max_message_bytes`, 4 MiB):
/// the letter carries the first bytes with `dlq.truncated.original_bytes`, the original stays whole
/// on its topic, and the events after it land.
#[tokio::test]
async fn g_a_dead_letter_too_large_to_produce_whole_is_cut() -> anyhow::Result<()> {
    use rdkafka::consumer::BaseConsumer;
    let iso = Isolation::new("cut", 1).await?;
    let kafka = stack::kafka();
    let foreign = sightline_common::kafka::KafkaSettings { max_message_bytes: 6 * 1024 * 1024, ..kafka.clone() };
    let original = vec![0xff_u8; 4_718_592];
    let positions = produce_raw(&foreign, &iso.topic, &[("cam-00".to_owned(), original.clone())]).await?;
    let mut produced = produce(&kafka, &iso.topic, &generator(77), 0, 100, None).await?;
    produced.sort();
    let clickhouse = stack::clickhouse(&iso.database);
    let _writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    assert_exactly(&clickhouse, &produced).await?;

    let letter = first_dead_letter(&kafka, &iso).await?;
    let header = |name: &str| stack::header(&letter, name);
    assert_eq!(header("dlq.reason"), "decode");
    assert_eq!(header(sightline_common::kafka::DLQ_TRUNCATED_HEADER), original.len().to_string());
    assert_eq!(
        (header("dlq.source.partition").parse::<i32>()?, header("dlq.source.offset").parse::<i64>()?),
        positions[0]
    );
    let cut = letter.payload().unwrap_or_default();
    assert!(cut.len() < kafka.max_message_bytes && cut.len() > 1_000_000, "{} bytes", cut.len());
    assert_eq!(cut, &original[..cut.len()], "the letter starts with the original bytes");

    // The original is still on its topic, whole.
    let source: BaseConsumer = kafka.client_config().set("group.id", format!("{}-source", iso.group)).create()?;
    let mut at = rdkafka::TopicPartitionList::new();
    at.add_partition_offset(&iso.topic, positions[0].0, rdkafka::Offset::Offset(positions[0].1))?;
    source.assign(&at)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let whole = loop {
        if let Some(message) = source.poll(Duration::from_millis(500)) {
            break message?.payload().map(<[u8]>::to_vec).unwrap_or_default();
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the original could not be read back");
    };
    assert_eq!(whole.len(), original.len(), "the original stays whole on {}", iso.topic);
    Ok(())
}

/// Tracks: every report lands in `events` (the history) and the track's row in `tracks` converges
/// to its latest report, whatever order the reports arrive in and however often they are replayed;
/// a re-enriched report replaces the track's matches as a whole; counts are of tracks.
#[tokio::test]
async fn h_tracks_converge_to_their_latest_report() -> anyhow::Result<()> {
    use prost::Message as _;
    const TRACKS: u64 = 120;
    let iso = Isolation::new("tracks", 2).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    let kafka = stack::kafka();
    let events = EventGenerator::new(LoadProfile { seed: 88, reports_per_track: 3, ..Default::default() });
    // Out of order: every track's last report first, then its earlier ones, then half the tracks'
    // first reports again (a replay).
    let mut order: Vec<u64> = (0..TRACKS).map(|t| t * 3 + 2).collect();
    order.extend((0..TRACKS).flat_map(|t| [t * 3, t * 3 + 1]));
    order.extend((0..TRACKS / 2).map(|t| t * 3));
    let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
    for index in &order {
        let event = events.event(*index);
        let key = event.detection.as_ref().map(|d| d.stream_id.clone()).unwrap_or_default();
        messages.push((key, event.encode_to_vec()));
    }
    // A matched track's last report, enriched again later with no match (its person was removed
    // from the list): the track is no longer anyone's.
    let (rematched_track, mut unmatched) = (0..TRACKS)
        .map(|t| (t, events.event(t * 3 + 2)))
        .find(|(_, e)| !e.matches.is_empty())
        .expect("a matched track");
    unmatched.matches.clear();
    unmatched.track_best_match = None;
    unmatched.enriched_time_ms += 60_000;
    // Keyed by its stream, as enrich keys it: it lands after the original, in the same partition.
    let key = unmatched.detection.as_ref().map(|d| d.stream_id.clone()).unwrap_or_default();
    messages.push((key, unmatched.encode_to_vec()));
    produce_raw(&kafka, &iso.topic, &messages).await?;

    let writer = ServiceProcess::writer(&iso, &clickhouse, &[], &[])?;
    let reports: Vec<String> = (0..TRACKS * 3).map(|i| events.event(i).event_id).collect();
    assert_exactly(&clickhouse, &reports).await?;
    // A batch's tracks land after its events: wait for them, then for exactly one row per track.
    let counts = eventually(LANDING_TIMEOUT, "every track's reports", || async {
        let counts: (u64, u64, u64) =
            clickhouse.read_client().query(sightline_schemas::queries::TRACK_COUNTS).fetch_one().await?;
        Ok((counts.2 >= TRACKS * 3).then_some(counts))
    })
    .await?;
    assert_eq!(counts, (TRACKS, TRACKS, TRACKS * 3), "one row per track");
    let states: Vec<(String, String, u32, u8, String)> = clickhouse
        .read_client()
        .query("SELECT track_id, toString(event_id), report_count, ended, best_person_id FROM tracks FINAL")
        .fetch_all()
        .await?;
    let states: BTreeMap<String, (String, u32, u8, String)> =
        states.into_iter().map(|(track, event, count, ended, person)| (track, (event, count, ended, person))).collect();
    for track in 0..TRACKS {
        let last = events.event(track * 3 + 2);
        let detection = last.detection.as_ref().expect("detection");
        let (event_id, report_count, ended, person) = &states[&detection.track_id];
        assert_eq!((event_id, *report_count, *ended), (&last.event_id, 3, 1), "track {track}: its last report");
        let want_person = if track == rematched_track {
            String::new()
        } else {
            last.track_best_match.as_ref().map(|m| m.person_id.clone()).unwrap_or_default()
        };
        assert_eq!(person, &want_person, "track {track}: the latest enrichment's best match");
    }
    // The re-enriched report's own matches are replaced as a whole too: none left, as the query
    // service reads them (`events` copies ordered by enrichment time, the matches its row names;
    // `tracks` keeps the latest by version whatever the order).
    let rematched = events.event(rematched_track * 3 + 2);
    let warehouse = sightline_query::store::Warehouse::new(&clickhouse, stack::object_store(&clickhouse.database)?);
    let row = warehouse.event(rematched.event_id.parse()?).await?.expect("the re-enriched report landed");
    let left: Vec<_> = warehouse.matches_by_event(&[row]).await?.into_values().flatten().collect();
    assert!(left.is_empty(), "the old enrichment's matches are gone: {left:?}");
    // The people counts: every track once, in the per-stream summary over all time.
    let everything = sightline_query::params::TimeRange { from_ms: 0, to_ms: sightline_query::params::MAX_TIME_MS };
    // The views on `tracks` (the hourly sets) are written right after it, in the same insert: wait
    // for them as for the tracks above.
    let counted = eventually(Duration::from_secs(30), "the hourly sets to hold the tracks", || async {
        let summary = warehouse.streams(&everything).await?;
        let counted = summary.iter().map(|s| s.faces + s.bodies).sum::<u64>();
        Ok((counted >= TRACKS).then_some(counted))
    })
    .await?;
    assert_eq!(counted, TRACKS);
    assert!(writer.terminate(Duration::from_secs(30)));
    Ok(())
}
