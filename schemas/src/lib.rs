//! Sightline's contracts.
//!
//! - [`v1`]: the Protobuf messages on the Kafka topics (see `proto/sightline/v1/events.proto` for the
//!   field-by-field documentation and the evolution rules);
//! - [`topics`]: the versioned topic names;
//! - [`validate`]: the checks every consumer applies to an event, with the reasons it dead-letters;
//! - [`CLICKHOUSE_MIGRATIONS`] and [`POSTGRES_MIGRATIONS`]: the warehouse DDL and the relational
//!   schema, embedded in version order;
//! - [`queries`]: the warehouse queries the services run, kept here so the compatibility test runs
//!   exactly what production runs.

/// Version-1 event messages (package `sightline.v1`).
pub mod v1 {
    #![allow(missing_docs, clippy::doc_lazy_continuation)]
    include!(concat!(env!("OUT_DIR"), "/sightline.v1.rs"));

    /// The `schema_version` (minor version of the v1 schema) this build writes. Consumers read
    /// every minor version, newer ones included (see the evolution rules in `events.proto`).
    pub const SCHEMA_VERSION: u32 = 4;

    impl ObjectKind {
        /// The kind's name in the warehouse (`events.kind`, whose Enum8 codes are these enum
        /// numbers), the APIs and the exports: `face` or `body` (`unspecified` is never stored).
        pub fn label(self) -> &'static str {
            match self {
                ObjectKind::Face => "face",
                ObjectKind::Body => "body",
                ObjectKind::Unspecified => "unspecified",
            }
        }

        /// The kind named `label` (`face` or `body`).
        pub fn from_label(label: &str) -> Option<Self> {
            match label {
                "face" => Some(ObjectKind::Face),
                "body" => Some(ObjectKind::Body),
                _ => None,
            }
        }
    }
}

pub mod validate;

pub mod cluster;

/// Encoded `FileDescriptorSet` of the v1 schema, for compatibility checks and reflection.
pub const V1_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sightline_v1_descriptor.bin"));

/// Kafka topic names. The suffix is the major schema version: an incompatible change gets new topics.
pub mod topics {
    /// Detection events from ingest (`DetectionEvent`), keyed by stream id.
    pub const DETECTIONS_V1: &str = "sightline.detections.v1";
    /// Enriched events from enrich (`EnrichedEvent`), keyed by stream id.
    pub const EVENTS_V1: &str = "sightline.events.v1";
    /// Watchlist alerts from the notifier (`AlertEvent`), keyed by stream id.
    pub const ALERTS_V1: &str = "sightline.alerts.v1";
    /// Dead letters: messages a consumer could not process, with headers naming why and where from.
    pub const DLQ_V1: &str = "sightline.dlq.v1";
}

/// Header names on dead-lettered messages (`sightline.dlq.v1`). The value of each is UTF-8 text.
pub mod dlq_headers {
    /// Short machine-readable reason class, e.g. `decode`, `schema_version`, `invalid`.
    pub const REASON: &str = "dlq.reason";
    /// Human-readable detail of what was wrong.
    pub const DETAIL: &str = "dlq.detail";
    /// Topic the message was read from.
    pub const SOURCE_TOPIC: &str = "dlq.source.topic";
    /// Partition the message was read from (decimal).
    pub const SOURCE_PARTITION: &str = "dlq.source.partition";
    /// Offset of the message in that partition (decimal).
    pub const SOURCE_OFFSET: &str = "dlq.source.offset";
    /// The consumer (service and group) that dead-lettered it.
    pub const CONSUMER: &str = "dlq.consumer";
}

/// One embedded SQL migration file, `NNNN_name.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The number before the first `_`; migrations apply in increasing order.
    pub version: u32,
    /// The rest of the file name, for logs and the history table.
    pub name: &'static str,
    /// The file's text; ClickHouse files may hold several statements separated by `;` at line ends.
    pub sql: &'static str,
}

/// The statements of `sql`: split at `;` that ends a line, comments and blanks dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.trim_end();
        if code.trim_start().starts_with("--") || code.trim().is_empty() {
            continue;
        }
        if let Some(body) = code.strip_suffix(';') {
            current.push_str(body);
            statements.push(std::mem::take(&mut current).trim().to_owned());
        } else {
            current.push_str(code);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_owned());
    }
    statements
}

impl Migration {
    /// The statements of this file: split at `;` that ends a line, comments and blanks dropped.
    pub fn statements(&self) -> Vec<String> {
        statements(self.sql)
    }

    /// FNV-1a 64 checksum of the file, recorded when applied to detect later edits.
    pub fn checksum(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Warehouse queries run by the services and tests, also checked on current ClickHouse (chdb).
pub mod queries {
    /// The tracks a watchlist person was matched on and the bodies their faces were part of
    /// (`stream_id/track_id`; an erasure by person).
    pub const ERASURE_PERSON_TRACKS: &str = include_str!("../clickhouse/queries/erasure_person_tracks.sql");
    /// The active partitions of the database's tables (retention).
    pub const TABLE_PARTITIONS: &str = include_str!("../clickhouse/queries/table_partitions.sql");
    /// [`TABLE_PARTITIONS`] on a cluster: the shard-local tables' partitions on every replica.
    pub const TABLE_PARTITIONS_CLUSTER: &str = include_str!("../clickhouse/queries/table_partitions_cluster.sql");
    /// Adds the reports of the tracks listed under an erasure id to `erasure_targets`.
    pub const ERASURE_LIST_EVENTS: &str = include_str!("../clickhouse/queries/erasure_list_events.sql");
    /// How many of an erasure's mutations are not done yet.
    pub const ERASURE_PENDING: &str = include_str!("../clickhouse/queries/erasure_pending.sql");
    /// [`ERASURE_PENDING`] on a cluster: the mutations of every replica.
    pub const ERASURE_PENDING_CLUSTER: &str = include_str!("../clickhouse/queries/erasure_pending_cluster.sql");
    /// What erasing the tracks listed under an erasure id removes from the warehouse, per table.
    pub const ERASURE_COUNTS: &str = include_str!("../clickhouse/queries/erasure_counts.sql");
    /// The mutations that erase the listed tracks' biometric copies (several statements, `;` at a line
    /// end; see [`crate::statements`]).
    pub const ERASE_TRACKS: &str = include_str!("../clickhouse/queries/erase_tracks.sql");
    /// A page of the best shots that still hold their bytes, to move into the object store.
    pub const BEST_SHOTS_TO_MOVE: &str = include_str!("../clickhouse/queries/best_shots_to_move.sql");
    /// A track's clip: its folder in the object store and its start.
    pub const TRACK_CLIP: &str = include_str!("../clickhouse/queries/track_clip.sql");
    /// The clip folders of an erasure's tracks.
    pub const ERASURE_CLIPS: &str = include_str!("../clickhouse/queries/erasure_clips.sql");
    /// The clip folders of a retention run's tracks that no other track names.
    pub const RETENTION_CLIPS: &str = include_str!("../clickhouse/queries/retention_clips.sql");
    /// The object-store keys of an erasure's best shots.
    pub const ERASURE_OBJECTS: &str = include_str!("../clickhouse/queries/erasure_objects.sql");
    /// Exactly-once view of the events: total rows as analysts see them, and distinct ids.
    pub const EVENT_COUNTS: &str = include_str!("../clickhouse/queries/event_counts.sql");
    /// Exactly-once view of the tracks: rows as analysts see them, distinct tracks, reports.
    pub const TRACK_COUNTS: &str = include_str!("../clickhouse/queries/track_counts.sql");
    /// Per-stream summary of what landed (the demo prints it).
    pub const LANDED_SUMMARY: &str = include_str!("../clickhouse/queries/landed_summary.sql");
    /// Order-independent fingerprint of the visible events and matches (rebuild equivalence).
    pub const CONTENT_FINGERPRINT: &str = include_str!("../clickhouse/queries/content_fingerprint.sql");
    /// The migration runner's history table.
    pub const MIGRATION_HISTORY_DDL: &str = include_str!("../clickhouse/queries/migration_history_ddl.sql");
    /// The applied migrations: (version, name, checksum).
    pub const MIGRATION_HISTORY: &str = include_str!("../clickhouse/queries/migration_history.sql");
    /// The most sighted watchlist persons in a time range, optionally of one list.
    pub const TOP_MATCHED_PERSONS: &str = include_str!("../clickhouse/queries/top_matched_persons.sql");
    /// One page of tracks, newest first, filtered: the ids of their latest reports (the query API's
    /// default event list).
    pub const TRACK_PAGE: &str = include_str!("../clickhouse/queries/track_page.sql");
    /// One page of identified tracks (a list, person or "matched only" filter), newest first.
    pub const IDENTIFIED_PAGE: &str = include_str!("../clickhouse/queries/identified_page.sql");
    /// One page of reports, newest first, filtered: their ids (the event list with every report).
    pub const REPORT_PAGE: &str = include_str!("../clickhouse/queries/report_page.sql");
    /// Events by id, with the columns the API lists.
    pub const EVENTS_BY_ID: &str = include_str!("../clickhouse/queries/events_by_id.sql");
    /// Every event a CSV export selects, with its matches, newest first (one streamed query).
    pub const EXPORT_EVENTS: &str = include_str!("../clickhouse/queries/export_events.sql");
    /// Where one event is in `events`: its site, stream, kind and capture time (for [`EVENT_BY_ID`]).
    pub const EVENT_KEY: &str = include_str!("../clickhouse/queries/event_key.sql");
    /// One event by id and its key, with the columns of [`EVENTS_BY_ID`].
    pub const EVENT_BY_ID: &str = include_str!("../clickhouse/queries/event_by_id.sql");
    /// The watchlist matches of a set of events.
    pub const EVENT_MATCHES: &str = include_str!("../clickhouse/queries/event_matches.sql");
    /// The best-shot JPEG of one event.
    pub const BEST_SHOT: &str = include_str!("../clickhouse/queries/best_shot.sql");
    /// The active parts of the hourly track sets per day (the hourly counts' cache keys).
    pub const HOUR_SET_PARTS: &str = include_str!("../clickhouse/queries/hour_set_parts.sql");
    /// [`HOUR_SET_PARTS`] on a cluster: the parts on every replica of every shard.
    pub const HOUR_SET_PARTS_CLUSTER: &str = include_str!("../clickhouse/queries/hour_set_parts_cluster.sql");
    /// The shard of a cluster some replicas belong to, with all its replicas.
    pub const CLUSTER_SHARD_OF: &str = include_str!("../clickhouse/queries/cluster_shard_of.sql");
    /// Every replica of a cluster, as `remote()` takes them.
    pub const CLUSTER_REPLICAS: &str = include_str!("../clickhouse/queries/cluster_replicas.sql");
    /// How many replicas each shard of a cluster has (the quorum of inserts every replica must hold).
    pub const CLUSTER_QUORUM: &str = include_str!("../clickhouse/queries/cluster_quorum.sql");
    /// Tracks per hour of first sighting, site, stream and kind, from the hourly track sets.
    pub const HOUR_COUNTS: &str = include_str!("../clickhouse/queries/hour_counts.sql");
    /// Tracks per time bucket (of their first sighting) and kind, but for the whole hours' counts.
    pub const TIMELINE: &str = include_str!("../clickhouse/queries/timeline.sql");
    /// Per site, stream and kind: the tracks the whole hours' counts do not hold.
    pub const STREAM_EDGES: &str = include_str!("../clickhouse/queries/stream_edges.sql");
    /// Search by face, step 1: the nearest faces by sign sketch, with their tracks.
    pub const FACE_CANDIDATES: &str = include_str!("../clickhouse/queries/face_candidates.sql");
    /// Search by face, step 2: the exact similarities of the candidates.
    pub const FACE_SIMILARITIES: &str = include_str!("../clickhouse/queries/face_similarities.sql");
    /// Unique identified persons and identified tracks per day and site.
    pub const IDENTIFIED_PERSONS: &str = include_str!("../clickhouse/queries/identified_persons.sql");
    /// Unique identified persons and identified tracks per day, across the sites asked for.
    pub const IDENTIFIED_DAYS: &str = include_str!("../clickhouse/queries/identified_days.sql");
    /// Unique identified persons and identified tracks in the whole range.
    pub const IDENTIFIED_TOTAL: &str = include_str!("../clickhouse/queries/identified_total.sql");
    /// Dwell of tracks: count, mean, percentiles and histogram.
    pub const DWELL: &str = include_str!("../clickhouse/queries/dwell.sql");
    /// Arrivals by day of the week and hour in a time zone.
    pub const HEATMAP: &str = include_str!("../clickhouse/queries/heatmap.sql");
    /// Per identified person and site: tracks, dwell and sightings (for visits).
    pub const PERSON_TRACKS: &str = include_str!("../clickhouse/queries/person_tracks.sql");
    /// The descriptor of one event's face and its model.
    pub const FACE_OF_EVENT: &str = include_str!("../clickhouse/queries/face_of_event.sql");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_split() {
        assert!(!CLICKHOUSE_MIGRATIONS.is_empty());
        for pair in CLICKHOUSE_MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        let first = CLICKHOUSE_MIGRATIONS[0].statements();
        assert!(first.iter().all(|s| !s.ends_with(';') && !s.is_empty()));
    }

    #[test]
    fn object_kinds_have_one_name_everywhere() {
        use crate::v1::ObjectKind;
        for kind in [ObjectKind::Face, ObjectKind::Body] {
            assert_eq!(ObjectKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!((ObjectKind::Face as i8, ObjectKind::Body as i8), (1, 2), "the Enum8 codes of events.kind");
        assert_eq!(ObjectKind::from_label("unspecified"), None);
        assert_eq!(ObjectKind::from_label("car"), None);
    }

    #[test]
    fn statement_splitting_keeps_multiline_statements_whole() {
        let m = Migration { version: 1, name: "t", sql: "-- c\nCREATE TABLE a (\n x UInt8\n);\n\nSELECT 1;\n" };
        assert_eq!(m.statements(), vec!["CREATE TABLE a (\n x UInt8\n)".to_owned(), "SELECT 1".to_owned()]);
    }
}
