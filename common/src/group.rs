//! Health of one consumer-group member: whether the group is making progress on its topic, and
//! whether this member has a share of the work.
//!
//! A member can be alive and subscribed yet do nothing: after a crash, some brokers (tansu 0.6 seen
//! here) leave the replacement members with empty assignments while the group's committed offsets
//! stand still. The consumer's own callbacks cannot see that; the group's committed offsets and the
//! partitions' high watermarks can. [`GroupWatch`] reads both periodically (a request each, from its
//! own client, never joining the group) and:
//! - exports the member's owned partitions and the whole group's lag;
//! - judges progress per partition: a partition with lag whose committed offset has not moved for
//!   `stall_after` blocks readiness (condition `progress`), naming the topic, the partition and the
//!   offset it is stuck at, even while every other partition moves (a record the broker accepts but
//!   cannot serve stops its partition for good; `sightline-admin group skip` moves past it);
//! - when no partition with lag moved for `stall_after` and this member owns none, blocks
//!   `assignment`; the condition holds until the member owns a partition or the group moves;
//! - when a partition with lag that this member does not own stands still for `stall_after` while
//!   none of its own does (it owns none, or a member died and the broker left its partitions to
//!   nobody: tansu 0.6 seen here), rejoins the group: a fresh JoinGroup makes the broker rebalance.
//!   Not again before `stall_after` has passed, then twice as long each time, up to
//!   [`MAX_REJOIN_BACKOFF`] times it, while the stall lasts (a partition wedged by a record the
//!   broker cannot serve stays stalled whoever owns it);
//! - clears each condition as soon as what it is about is over.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::http::Readiness;
use crate::kafka::{Assignment, KafkaSettings, topic_partitions};
use crate::shutdown::Shutdown;

/// The member's share of the work and the group's backlog, as metrics.
#[derive(Clone, Debug, Default)]
pub struct GroupMetrics {
    /// Partitions of the topic this member owns now.
    pub owned_partitions: Gauge,
    /// Messages of the topic not yet committed by the group (all partitions, all members).
    pub group_lag: Gauge,
    /// Times this member left and rejoined the group because it owned nothing while the group was stuck.
    pub rejoins: Counter,
}

impl GroupMetrics {
    /// Creates the metrics and registers them as `sightline_consumer_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "sightline_consumer_owned_partitions",
            "Partitions of the input topic this member owns",
            metrics.owned_partitions.clone(),
        );
        registry.register(
            "sightline_consumer_group_lag",
            "Messages of the input topic the consumer group has not committed yet",
            metrics.group_lag.clone(),
        );
        registry.register(
            "sightline_consumer_rejoins",
            "Rejoins of the group after owning no partition while the group made no progress",
            metrics.rejoins.clone(),
        );
        metrics
    }
}

/// Watches one member of `group` on `topic`; see the module documentation.
pub struct GroupWatch {
    /// Kafka connection.
    pub kafka: KafkaSettings,
    /// The topic the group consumes.
    pub topic: String,
    /// The group.
    pub group: String,
    /// This member's partitions, kept by its rebalance callback.
    pub assignment: Assignment,
    /// Where a stall is reported.
    pub readiness: Readiness,
    /// Metrics it keeps.
    pub metrics: GroupMetrics,
    /// How long the group may have lag without any committed offset moving before it is stalled.
    pub stall_after: Duration,
    /// How often it looks.
    pub interval: Duration,
}

/// How often a member's group is looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// One partition as one look at the group found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLook {
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (the partition's first offset when nothing is committed).
    pub position: i64,
    /// The partition's high watermark.
    pub high: i64,
}

impl PartitionLook {
    fn lag(&self) -> i64 {
        (self.high - self.position).max(0)
    }
}

/// What the watch concludes from one look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why the group is not making progress on some partition (condition `progress`), if it is not.
    pub progress: Option<String>,
    /// Why this member is not doing its share (condition `assignment`), if it is not.
    pub assignment: Option<String>,
    /// Whether to rejoin the group now.
    pub rejoin: bool,
}

/// Judges a group's progress partition by partition across looks; see the module documentation.
#[derive(Debug)]
pub struct StallJudge {
    topic: String,
    group: String,
    stall_after: Duration,
    /// Per partition: the position last seen, and since when it has not moved (or had no lag).
    moved: std::collections::BTreeMap<i32, (i64, Instant)>,
    last_rejoin: Option<Instant>,
    /// How long after the last rejoin the next may come.
    rejoin_wait: Duration,
}

/// The longest wait between two rejoins of a stall that lasts, in `stall_after`s.
pub const MAX_REJOIN_BACKOFF: u32 = 8;

impl StallJudge {
    /// A judge of `group` on `topic` that calls a partition stalled after `stall_after`.
    pub fn new(topic: &str, group: &str, stall_after: Duration) -> Self {
        Self {
            topic: topic.to_owned(),
            group: group.to_owned(),
            stall_after,
            moved: Default::default(),
            last_rejoin: None,
            rejoin_wait: stall_after,
        }
    }

    /// The verdict on `partitions` looked at `now`, this member owning `owned` of them.
    pub fn judge(&mut self, now: Instant, owned: &BTreeSet<i32>, partitions: &[PartitionLook]) -> Verdict {
        let mut stalled = Vec::new();
        for look in partitions {
            let entry = self.moved.entry(look.partition).or_insert((look.position, now));
            if entry.0 != look.position || look.lag() == 0 {
                *entry = (look.position, now);
            }
            let still_for = now.saturating_duration_since(entry.1);
            if look.lag() > 0 && still_for >= self.stall_after {
                stalled.push((look, still_for));
            }
        }
        let mut verdict = Verdict::default();
        if stalled.is_empty() {
            self.rejoin_wait = self.stall_after;
            return verdict;
        }
        let described: Vec<String> = stalled
            .iter()
            .map(|(look, still_for)| {
                format!(
                    "partition {} at offset {} ({} messages behind, still for {} s)",
                    look.partition,
                    look.position,
                    look.lag(),
                    still_for.as_secs()
                )
            })
            .collect();
        verdict.progress = Some(format!(
            "group {} makes no progress on {}: {}; a record the broker cannot serve is skipped with \
             `sightline-admin group skip`",
            self.group,
            self.topic,
            described.join(", ")
        ));
        let lagging = partitions.iter().filter(|look| look.lag() > 0).count();
        if owned.is_empty() && stalled.len() == lagging {
            let lag: i64 = partitions.iter().map(PartitionLook::lag).sum();
            verdict.assignment = Some(format!(
                "owns no partition of {} while group {} has {lag} messages of lag and moves on none; rejoining",
                self.topic, self.group
            ));
        }
        let (mine, others): (Vec<_>, Vec<_>) = stalled.iter().partition(|(look, _)| owned.contains(&look.partition));
        if mine.is_empty() && !others.is_empty() {
            // A rebalance takes time: a full stall period between two rejoins, longer each time the
            // stall outlasts one, without pretending in between that the member has its share.
            verdict.rejoin = self.last_rejoin.is_none_or(|at| now.saturating_duration_since(at) >= self.rejoin_wait);
            if verdict.rejoin {
                if self.last_rejoin.is_some() {
                    self.rejoin_wait = (self.rejoin_wait * 2).min(self.stall_after * MAX_REJOIN_BACKOFF);
                }
                self.last_rejoin = Some(now);
                let partitions: Vec<i32> = others.iter().map(|(look, _)| look.partition).collect();
                tracing::warn!(
                    group = %self.group,
                    ?partitions,
                    "partitions stand still that this member does not own while its own move; rejoining the group"
                );
            }
        }
        verdict
    }
}

impl GroupWatch {
    /// Runs the watch in the background for `consumer`, which rejoins by unsubscribing and
    /// subscribing to the topic again.
    pub fn spawn_for<C>(self, consumer: std::sync::Arc<rdkafka::consumer::StreamConsumer<C>>, shutdown: Shutdown)
    where
        C: rdkafka::consumer::ConsumerContext + 'static,
    {
        let topic = self.topic.clone();
        let rejoin = move || {
            consumer.unsubscribe();
            if let Err(error) = consumer.subscribe(&[&topic]) {
                tracing::error!(%error, "rejoining the group failed");
            }
        };
        tokio::spawn(self.run(rejoin, shutdown));
    }

    /// Looks every `interval` until `shutdown`; `rejoin` is called when this member owns no
    /// partition while the group is stalled (it should unsubscribe and subscribe again).
    pub async fn run(self, rejoin: impl Fn() + Send + Sync + 'static, mut shutdown: Shutdown) {
        let mut config = self.kafka.client_config();
        config.set("group.id", &self.group).set("enable.auto.commit", "false");
        let client: BaseConsumer = match config.create() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "group watch: creating its client failed; not watching");
                return;
            }
        };
        let client = std::sync::Arc::new(client);
        let mut judge = StallJudge::new(&self.topic, &self.group, self.stall_after);
        loop {
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            let owned = self.assignment.owned();
            self.metrics.owned_partitions.set(owned.len() as i64);
            let (looking, topic) = (client.clone(), self.topic.clone());
            let observed = tokio::task::spawn_blocking(move || observe(&looking, &topic)).await;
            let partitions = match observed {
                Ok(Ok(partitions)) => partitions,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "group watch: could not read the group's offsets");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "group watch: task failed");
                    continue;
                }
            };
            self.metrics.group_lag.set(partitions.iter().map(PartitionLook::lag).sum());
            let verdict = judge.judge(Instant::now(), &owned, &partitions);
            for (condition, reason) in [("progress", &verdict.progress), ("assignment", &verdict.assignment)] {
                match reason {
                    Some(reason) => {
                        tracing::warn!(condition, "{reason}");
                        self.readiness.block(condition, reason.clone());
                    }
                    None => self.readiness.clear(condition),
                }
            }
            if verdict.rejoin {
                self.metrics.rejoins.inc();
                rejoin();
            }
        }
    }
}

/// The group's committed offsets and the topic's high watermarks (blocking requests).
fn observe(client: &BaseConsumer, topic: &str) -> Result<Vec<PartitionLook>, rdkafka::error::KafkaError> {
    let timeout = Duration::from_secs(10);
    let partitions = topic_partitions(client, topic, timeout)?;
    let mut list = TopicPartitionList::new();
    for partition in &partitions {
        list.add_partition(topic, *partition);
    }
    let committed = client.committed_offsets(list, timeout)?;
    let mut looks = Vec::new();
    for partition in partitions {
        let (low, high) = client.fetch_watermarks(topic, partition, timeout)?;
        let position = match committed.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            _ => low,
        };
        looks.push(PartitionLook { partition, position, high });
    }
    Ok(looks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(partition: i32, position: i64, high: i64) -> PartitionLook {
        PartitionLook { partition, position, high }
    }

    #[test]
    fn one_stuck_partition_is_reported_while_the_others_move() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut judge = StallJudge::new("events", "writer", Duration::from_secs(30));
        let both = BTreeSet::from([0, 1]);
        assert_eq!(judge.judge(at(0), &both, &[look(0, 100, 700), look(1, 50, 90)]), Verdict::default());
        // Partition 0 keeps moving; partition 1 stays at 50 with lag.
        assert_eq!(judge.judge(at(20), &both, &[look(0, 300, 900), look(1, 50, 95)]), Verdict::default());
        let verdict = judge.judge(at(31), &both, &[look(0, 500, 900), look(1, 50, 99)]);
        let progress = verdict.progress.expect("partition 1 is stuck");
        assert!(progress.contains("partition 1 at offset 50 (49 messages behind"), "{progress}");
        assert!(!progress.contains("partition 0"), "{progress}");
        assert_eq!((verdict.assignment, verdict.rejoin), (None, false), "the member owns partitions");
        // Once it moves (an operator skipped the record), the condition clears.
        assert_eq!(judge.judge(at(40), &both, &[look(0, 900, 900), look(1, 51, 99)]), Verdict::default());
    }

    #[test]
    fn a_member_without_partitions_stays_not_ready_across_its_rejoin() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut judge = StallJudge::new("events", "writer", Duration::from_secs(30));
        let stuck = [look(0, 10, 20), look(1, 10, 20)];
        let none = BTreeSet::new();
        assert_eq!(judge.judge(at(0), &none, &stuck), Verdict::default());
        let first = judge.judge(at(30), &none, &stuck);
        assert!(first.assignment.is_some() && first.rejoin, "{first:?}");
        // Right after the rejoin the member still owns nothing and nothing moved: still not ready,
        // and no second rejoin before a full stall period.
        let next = judge.judge(at(35), &none, &stuck);
        assert!(next.assignment.is_some(), "the assignment condition holds: {next:?}");
        assert!(!next.rejoin);
        assert!(judge.judge(at(60), &none, &stuck).rejoin, "rejoins again a stall period later");
        // Then twice as long each time the stall outlasts a rejoin.
        assert!(!judge.judge(at(110), &none, &stuck).rejoin);
        assert!(judge.judge(at(120), &none, &stuck).rejoin, "60 s after the second rejoin");
        // Given a partition, the member is judged by progress alone.
        let owning = judge.judge(at(121), &BTreeSet::from([0]), &stuck);
        assert_eq!((owning.assignment.is_some(), owning.rejoin), (false, false));
        // A member without partitions while the group moves is fine (more members than partitions).
        let mut judge = StallJudge::new("events", "writer", Duration::from_secs(30));
        assert_eq!(judge.judge(at(0), &none, &[look(0, 10, 20)]), Verdict::default());
        assert_eq!(judge.judge(at(40), &none, &[look(0, 15, 20)]), Verdict::default());
    }

    #[test]
    fn partitions_left_to_nobody_make_a_member_whose_own_move_rejoin() {
        // A member died; the broker gave its partitions 4 and 5 to nobody. This member owns 2 and 3,
        // which move; 4 and 5 stand still with lag.
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut judge = StallJudge::new("events", "notifier", Duration::from_secs(30));
        let mine = BTreeSet::from([2, 3]);
        let looks =
            |moved: i64| [look(2, 100 + moved, 200), look(3, 50 + moved, 90), look(4, 39, 300), look(5, 11, 48)];
        assert_eq!(judge.judge(at(0), &mine, &looks(0)), Verdict::default());
        let verdict = judge.judge(at(31), &mine, &looks(5));
        assert!(verdict.rejoin, "{verdict:?}");
        assert!(verdict.progress.is_some_and(|p| p.contains("partition 4") && p.contains("partition 5")));
        assert_eq!(verdict.assignment, None, "the member does its share");
        // Its own partition stalled too (a shared cause, such as the warehouse down): no rejoin.
        let mut judge = StallJudge::new("events", "notifier", Duration::from_secs(30));
        let stuck = [look(2, 100, 200), look(4, 39, 300)];
        judge.judge(at(0), &mine, &stuck);
        assert!(!judge.judge(at(31), &mine, &stuck).rejoin);
    }
}
