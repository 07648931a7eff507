//! Rebuilding the warehouse from the log: empty the event tables, then rewind the writer's consumer
//! group to the start of the topic, so the next run replays every event. Kafka is the source of
//! truth; the result has the same query results as before.

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

use crate::settings::WriterSettings;

/// The tables a rebuild empties (the migration history is kept).
pub const WAREHOUSE_TABLES: &[&str] = &[
    "events",
    "matches",
    "best_shot_jpegs",
    "tracks",
    "track_hour_sets",
    "identified_tracks",
    "event_keys",
    "face_sketches",
    "face_descriptors",
];

/// Empties the warehouse tables and rewinds the consumer group to the earliest offsets.
///
/// Run it while no writer of the group is running (it refuses when the broker reports members).
pub async fn reset(settings: &WriterSettings) -> anyhow::Result<()> {
    let kafka = settings.kafka.clone();
    let topic = settings.topic.clone();
    let group = settings.group_id.clone();
    // librdkafka's calls below block; keep them off the async threads.
    let consumer: BaseConsumer = tokio::task::spawn_blocking({
        let group = group.clone();
        move || -> anyhow::Result<BaseConsumer> {
            let mut config = kafka.client_config();
            config.set("group.id", &group).set("enable.auto.commit", "false");
            let consumer: BaseConsumer = config.create().context("creating the kafka client")?;
            match consumer.fetch_group_list(Some(&group), Duration::from_secs(10)) {
                Ok(list) => {
                    if let Some(g) = list.groups().iter().find(|g| g.name() == group) {
                        anyhow::ensure!(
                            g.members().is_empty(),
                            "consumer group {group} has {} active member(s): stop its writers before rebuilding",
                            g.members().len()
                        );
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the broker cannot list group members; assuming the writers are stopped")
                }
            }
            Ok(consumer)
        }
    })
    .await??;

    let client = settings.clickhouse.read_client();
    sightline_common::warehouse::migrate(&settings.clickhouse).await?;
    for table in WAREHOUSE_TABLES {
        client
            .query(&settings.clickhouse.maintenance(&format!("TRUNCATE TABLE {table}"))?)
            .execute()
            .await
            .with_context(|| format!("emptying {table}"))?;
        tracing::info!(table, "emptied");
    }

    let rewound = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let partitions = sightline_common::kafka::topic_partitions(&consumer, &topic, Duration::from_secs(10))
            .with_context(|| format!("reading metadata of {topic}"))?;
        anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
        let mut offsets = TopicPartitionList::new();
        for partition in &partitions {
            let (low, _high) = consumer
                .fetch_watermarks(&topic, *partition, Duration::from_secs(10))
                .with_context(|| format!("reading watermarks of {topic}/{partition}"))?;
            offsets.add_partition_offset(&topic, *partition, Offset::Offset(low))?;
        }
        consumer.commit(&offsets, CommitMode::Sync).with_context(|| format!("rewinding group offsets on {topic}"))?;
        Ok(partitions.len())
    })
    .await??;
    tracing::info!(%group, partitions = rewound, "consumer group rewound to the start of the topic");
    Ok(())
}
