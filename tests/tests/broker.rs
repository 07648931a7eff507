//! The local stack's broker deletes only the topic it is asked to delete (tansu 0.6.0 as published
//! deleted every topic of the cluster; `infra/tansu/README.md`), and `sightline-admin` refuses to
//! delete topics on a broker that may be the unfixed build. Two brokers over one store serve one
//! cluster: with one killed mid-stream, the producer carries on through the other, and the writer
//! reading through that one lands every event once.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce, produce_raw};
use sightline_testkit::stack::{self, Isolation};
use std::process::Command;
use std::time::{Duration, Instant};

const RECORDS: usize = 10;
/// Events the failover test produces (300 a second).
const EVENTS: u64 = 3_000;

/// Runs `sightline-admin topics delete topic` with `topic_deletion` (when given); its success and
/// what it printed.
fn admin_delete(topic: &str, topic_deletion: Option<&str>) -> anyhow::Result<(bool, String)> {
    let mut command = Command::new(stack::binary("sightline-admin")?);
    command
        .arg("--config")
        .arg(stack::repo_root().join("infra/config/admin.toml"))
        .args(["topics", "delete", topic])
        .env("SIGHTLINE_ADMIN__KAFKA__BROKERS", stack::kafka().brokers);
    if let Some(policy) = topic_deletion {
        command.env("SIGHTLINE_ADMIN__TOPIC_DELETION", policy);
    }
    let output = command.output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text))
}

/// Every payload of `topic` (2 partitions), read from the start without a group.
fn read_all(topic: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{topic}-reader")).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut payloads = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while payloads.len() < RECORDS && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            payloads.push(message?.payload().unwrap_or_default().to_vec());
        }
    }
    Ok(payloads)
}

/// The offsets group `group` committed on `topic`'s two partitions.
fn committed(group: &str, topic: &str) -> anyhow::Result<Vec<Offset>> {
    let mut config = stack::kafka().client_config();
    config.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    partitions.add_partition(topic, 1);
    let offsets = consumer.committed_offsets(partitions, Duration::from_secs(10))?;
    Ok(offsets.elements().iter().map(|e| e.offset()).collect())
}

fn topic_exists(topic: &str) -> anyhow::Result<bool> {
    let consumer: BaseConsumer = stack::kafka().client_config().create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(metadata.topics().iter().any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}

#[tokio::test]
async fn deleting_one_topic_leaves_every_other_topic_and_its_offsets() -> anyhow::Result<()> {
    let iso = Isolation::new("broker", 2).await?;
    let (keep, drop) = (iso.topic.clone(), iso.dlq_topic.clone());
    let records: Vec<(String, Vec<u8>)> =
        (0..RECORDS).map(|i| (format!("key-{i}"), format!("record {i}").into_bytes())).collect();
    produce_raw(&stack::kafka(), &keep, &records).await?;
    produce_raw(&stack::kafka(), &drop, &records).await?;

    // A group's progress on the topic that stays.
    let group = format!("{}-progress", iso.group);
    {
        let mut config = stack::kafka().client_config();
        config.set("group.id", &group).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(&keep, 0, Offset::Offset(2))?;
        offsets.add_partition_offset(&keep, 1, Offset::Offset(1))?;
        consumer.commit(&offsets, rdkafka::consumer::CommitMode::Sync)?;
    }
    let progress = committed(&group, &keep)?;
    assert_eq!(progress, vec![Offset::Offset(2), Offset::Offset(1)], "offsets committed before the delete");

    // `auto` refuses on a broker answering tansu's default cluster id (the unfixed build's).
    let (refused_ok, refusal) = admin_delete(&keep, Some("auto"))?;
    assert!(!refused_ok && refusal.contains("tansu_cluster"), "auto must refuse on tansu: {refusal}");
    assert!(topic_exists(&keep)?, "a refused delete deleted the topic");

    // The stack's own broker is the fixed build: it may delete, and deletes only the named topic.
    assert_eq!(
        std::env::var("SIGHTLINE_ADMIN__TOPIC_DELETION").as_deref(),
        Ok("allow"),
        "infra/stack env allows topic deletion on the broker it built"
    );
    let (deleted, output) = admin_delete(&drop, None)?;
    assert!(deleted, "sightline-admin topics delete {drop}: {output}");
    assert!(!topic_exists(&drop)?, "{drop} still exists after its delete");
    assert!(topic_exists(&keep)?, "deleting {drop} also deleted {keep}");

    let mut kept: Vec<Vec<u8>> = read_all(&keep)?;
    kept.sort();
    let mut want: Vec<Vec<u8>> = records.into_iter().map(|(_, payload)| payload).collect();
    want.sort();
    assert_eq!(kept, want, "every record of {keep} is still there");
    assert_eq!(committed(&group, &keep)?, progress, "the group's offsets on {keep} are intact");
    Ok(())
}

#[tokio::test]
async fn a_producer_fails_over_between_two_brokers_of_one_store() -> anyhow::Result<()> {
    let mut brokers = stack::PrivateBrokers::start(2).await?;
    let kafka = brokers.kafka();
    let tag = stack::random_tag();
    let iso = Isolation {
        topic: format!("test.brokers.{tag}.events"),
        dlq_topic: format!("test.brokers.{tag}.dlq"),
        group: format!("test-brokers-{tag}"),
        database: format!("test_brokers_{tag}"),
    };
    let topics = [&iso.topic, &iso.dlq_topic].map(|name| sightline_common::kafka::TopicSpec {
        name: name.clone(),
        partitions: 3,
        replication: 1,
        retention_ms: -1,
    });
    sightline_common::kafka::ensure_topics(&kafka, &topics).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    // The writer reads through the broker that stays; its consumer group keeps its session. (A
    // member whose session expires while its coordinator's address moves is not given partitions
    // again by tansu 0.6: infra/tansu/README.md, "Several brokers".)
    let survivor = brokers.address(1);
    let writer = stack::ServiceProcess::writer(&iso, &clickhouse, &[], &[("KAFKA__BROKERS", &survivor)])?;
    let generator = EventGenerator::new(LoadProfile { seed: 29, ..Default::default() });
    let producer = {
        let (kafka, topic) = (kafka.clone(), iso.topic.clone());
        tokio::spawn(async move { produce(&kafka, &topic, &generator, 0, EVENTS, Some(300.0)).await })
    };
    // The producer knows both brokers; one dies while events flow and the producer goes on through
    // the other, which also serves what was produced through the dead one.
    stack::eventually(Duration::from_secs(120), "the writer to land events", || async {
        Ok((writer.metric("sightline_writer_inserted_total").unwrap_or(0.0) >= 300.0).then_some(()))
    })
    .await?;
    brokers.kill(0)?;
    let visible_at_kill = stack::event_counts(&clickhouse).await?.0;
    let produced = producer.await??;
    assert!(visible_at_kill < EVENTS, "the broker died mid-stream ({visible_at_kill} visible)");
    stack::eventually(Duration::from_secs(120), "every event to land", || async {
        let (visible, _) = stack::event_counts(&clickhouse).await?;
        anyhow::ensure!(visible <= EVENTS, "{visible} visible, more than the {EVENTS} produced");
        Ok((visible == EVENTS).then_some(()))
    })
    .await?;
    let mut want = produced;
    want.sort();
    assert_eq!(stack::event_counts(&clickhouse).await?, (EVENTS, EVENTS), "visible rows and distinct ids");
    assert_eq!(stack::event_ids(&clickhouse).await?, want, "exactly the produced events");
    Ok(())
}
