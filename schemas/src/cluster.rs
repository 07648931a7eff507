//! The warehouse's migrations as they run on a ClickHouse cluster (docs/warehouse.md, "On a
//! cluster").
//!
//! The migration files are written for one server. On a cluster each statement becomes its cluster
//! form, run `ON CLUSTER` on every server:
//! - a table `t` becomes `t_local`, a `Replicated*MergeTree` whose ZooKeeper path names the shard,
//!   database and table, plus `t`, a `Distributed` table over it sharded by
//!   [`SHARDING_KEY`]; the services keep reading and writing `t`;
//! - a materialized view reads the source's `_local` table and writes the target's `_local` table
//!   on the same server, which is right because every table has the same sharding key: the rows a
//!   view derives from a shard's rows belong on that shard;
//! - `ALTER TABLE t ADD COLUMN` alters `t_local` on every replica, then makes `t` again over it
//!   (ClickHouse 18.16 refuses `ALTER … ON CLUSTER` of a `Distributed` table on a replicated
//!   cluster);
//! - `DROP TABLE t` drops both;
//! - `INSERT … SELECT` (a backfill) runs as written, through the `Distributed` tables;
//! - maintenance (`ALTER TABLE t DELETE|UPDATE|DROP PARTITION`, `OPTIMIZE`, `TRUNCATE`) runs on
//!   `t_local` `ON CLUSTER` ([`ClusterTarget::maintenance`]).

/// The expression every table is sharded by: all the rows of a stream (its reports, tracks,
/// matches, best shots, keys, and the clips its face and body tracks share) land on one shard.
pub const SHARDING_KEY: &str = "cityHash64(stream_id)";

/// The key of a table without `stream_id`, for inserts through its `Distributed` table. The only
/// such table kept, `face_descriptors`, is filled by its view from `events` alone, so its rows land on
/// their event's shard; nothing inserts into it directly (a test lists the tables without the column).
const UNSHARDED_KEY: &str = "rand()";

/// Suffix of the shard-local table behind each `Distributed` table.
pub const LOCAL_SUFFIX: &str = "_local";

/// Where a migration runs on a cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterTarget<'a> {
    /// The cluster's name in the servers' `remote_servers`.
    pub cluster: &'a str,
    /// The database holding Sightline's tables.
    pub database: &'a str,
}

/// A statement the cluster form does not know how to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedStatement {
    /// Why.
    pub reason: String,
    /// The statement's first line.
    pub statement: String,
}

impl std::fmt::Display for UnsupportedStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (statement: {})", self.reason, self.statement)
    }
}

impl std::error::Error for UnsupportedStatement {}

impl UnsupportedStatement {
    /// Why `statement` (named by its first line) has no cluster form.
    fn new(reason: &str, statement: &str) -> Self {
        Self { reason: reason.to_owned(), statement: statement.lines().next().unwrap_or_default().to_owned() }
    }
}

impl ClusterTarget<'_> {
    /// `database.table`, quoted.
    fn qualified(&self, table: &str) -> String {
        format!("`{}`.`{table}`", self.database)
    }

    /// `database.table_local`, quoted: the shard-local table behind `table`.
    fn qualified_local(&self, table: &str) -> String {
        self.qualified(&format!("{table}{LOCAL_SUFFIX}"))
    }

    /// The `Distributed` table `table` over `table_local`, sharded by `key`.
    fn distributed(&self, table: &str, key: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} ON CLUSTER `{cluster}` AS {local} \
             ENGINE = Distributed(`{cluster}`, `{database}`, `{table}{LOCAL_SUFFIX}`, {key})",
            name = self.qualified(table),
            cluster = self.cluster,
            local = self.qualified_local(table),
            database = self.database,
        )
    }

    /// The statements that apply one single-server migration statement to the cluster.
    pub fn statements(&self, statement: &str) -> Result<Vec<String>, UnsupportedStatement> {
        let unsupported = |reason: &str| UnsupportedStatement::new(reason, statement);
        let words: Vec<&str> = statement.split_whitespace().collect();
        let upper: Vec<String> = words.iter().take(6).map(|w| w.to_ascii_uppercase()).collect();
        let starts = |prefix: &[&str]| upper.len() >= prefix.len() && prefix.iter().zip(&upper).all(|(p, w)| p == w);
        if starts(&["CREATE", "TABLE", "IF", "NOT", "EXISTS"]) {
            let table =
                name_of(words.get(5).copied().unwrap_or_default()).ok_or_else(|| unsupported("no table name"))?;
            self.create_table(statement, table).ok_or_else(|| unsupported("not a (…) ENGINE = *MergeTree(…) table"))
        } else if starts(&["CREATE", "MATERIALIZED", "VIEW", "IF", "NOT", "EXISTS"]) {
            self.create_view(statement, &words)
                .ok_or_else(|| unsupported("not a view `TO target AS SELECT … FROM source`"))
        } else if starts(&["ALTER", "TABLE"]) && upper.get(3).is_some_and(|w| w == "ADD") {
            let table = name_of(words[2]).ok_or_else(|| unsupported("no table name"))?;
            let rest = words[3..].join(" ");
            Ok(vec![
                format!("ALTER TABLE {} ON CLUSTER `{}` {rest}", self.qualified_local(table), self.cluster),
                format!("DROP TABLE IF EXISTS {} ON CLUSTER `{}`", self.qualified(table), self.cluster),
                self.distributed(table, SHARDING_KEY),
            ])
        } else if starts(&["DROP", "TABLE", "IF", "EXISTS"]) && words.len() == 5 {
            let table = name_of(words[4]).ok_or_else(|| unsupported("no table name"))?;
            Ok([table.to_owned(), format!("{table}{LOCAL_SUFFIX}")]
                .iter()
                .map(|name| format!("DROP TABLE IF EXISTS {} ON CLUSTER `{}`", self.qualified(name), self.cluster))
                .collect())
        } else if starts(&["INSERT", "INTO"]) {
            Ok(vec![statement.to_owned()])
        } else {
            Err(unsupported("no cluster form for this kind of statement"))
        }
    }

    /// The migration history on a cluster: one table every server holds whole (a single
    /// replication path, no shard in it), so each server reads every version applied from anywhere.
    pub fn history_table(&self) -> String {
        crate::queries::MIGRATION_HISTORY_DDL
            .replace(
                "CREATE TABLE IF NOT EXISTS schema_migrations",
                &format!(
                    "CREATE TABLE IF NOT EXISTS {} ON CLUSTER `{}`",
                    self.qualified("schema_migrations"),
                    self.cluster
                ),
            )
            .replace(
                "ENGINE = MergeTree()",
                &format!(
                    "ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{}/schema_migrations', '{{replica}}')",
                    self.database
                ),
            )
    }

    /// `CREATE DATABASE` on every server.
    pub fn create_database(&self) -> String {
        format!("CREATE DATABASE IF NOT EXISTS `{}` ON CLUSTER `{}`", self.database, self.cluster)
    }

    /// A maintenance statement on table `t` (`ALTER TABLE t …` mutations and partition drops,
    /// `OPTIMIZE TABLE t …`, `TRUNCATE TABLE t`) as it runs on every shard's replicas: on `t_local`,
    /// `ON CLUSTER`, its subqueries reading the shard's own tables ([`Self::local_subqueries`]).
    pub fn maintenance(&self, statement: &str) -> Result<String, UnsupportedStatement> {
        let trimmed = statement.trim_start();
        let words: Vec<&str> = trimmed.splitn(4, char::is_whitespace).collect();
        let known = ["ALTER", "OPTIMIZE", "TRUNCATE"];
        match words.as_slice() {
            [verb, table_word, name, rest @ ..]
                if known.iter().any(|k| verb.eq_ignore_ascii_case(k)) && table_word.eq_ignore_ascii_case("TABLE") =>
            {
                let table = name_of(name).ok_or_else(|| UnsupportedStatement::new("no plain table name", statement))?;
                let rest = rest.first().map(|r| format!(" {}", self.local_subqueries(r))).unwrap_or_default();
                Ok(format!(
                    "{} TABLE {} ON CLUSTER `{}`{rest}",
                    verb.to_ascii_uppercase(),
                    self.qualified_local(table),
                    self.cluster
                ))
            }
            _ => Err(UnsupportedStatement::new("not ALTER, OPTIMIZE or TRUNCATE TABLE", statement)),
        }
    }

    /// `sql` with each table a subquery reads (`FROM name`) as this database's shard-local table. A
    /// statement run `ON CLUSTER` is run by each server outside any database, so a name must say its
    /// database; and every row related to a stream is on that stream's shard, so each shard's
    /// mutation finds what it changes in its own tables, and goes on while another shard is down.
    fn local_subqueries(&self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 64);
        let mut rest = sql;
        while let Some(at) = find_word(rest, "FROM") {
            let (before, after) = rest.split_at(at + "FROM".len());
            out.push_str(before);
            let gap = after.len() - after.trim_start().len();
            let name_len =
                after[gap..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len() - gap);
            let name = &after[gap..gap + name_len];
            let qualified_already = after[gap + name_len..].starts_with('.');
            if name.is_empty() || qualified_already {
                rest = after;
            } else {
                out.push_str(&after[..gap]);
                out.push_str(&self.qualified_local(name));
                rest = &after[gap + name_len..];
            }
        }
        out.push_str(rest);
        out
    }

    /// `CREATE TABLE IF NOT EXISTS t (columns) ENGINE = XMergeTree(args) rest` on a cluster.
    fn create_table(&self, statement: &str, table: &str) -> Option<Vec<String>> {
        let open = statement.find('(')?;
        let engine_at = find_word(statement, "ENGINE")?;
        let columns = &statement[open..engine_at];
        let key = if has_stream_id(columns) { SHARDING_KEY } else { UNSHARDED_KEY };
        let after = statement[engine_at + "ENGINE".len()..].trim_start().strip_prefix('=')?.trim_start();
        let engine_end = after.find('(')?;
        let engine = after[..engine_end].trim();
        if !engine.ends_with("MergeTree") || engine.starts_with("Replicated") {
            return None;
        }
        let close = after.find(')')?;
        let arguments = after[engine_end + 1..close].trim();
        let rest = &after[close + 1..];
        let local = format!("{table}{LOCAL_SUFFIX}");
        let path = format!("'/clickhouse/tables/{{shard}}/{}/{local}'", self.database);
        let replicated_arguments = if arguments.is_empty() {
            format!("{path}, '{{replica}}'")
        } else {
            format!("{path}, '{{replica}}', {arguments}")
        };
        Some(vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {} ON CLUSTER `{}`\n{}ENGINE = Replicated{engine}({replicated_arguments}){rest}",
                self.qualified(&local),
                self.cluster,
                columns.trim_end().to_owned() + "\n",
            ),
            self.distributed(table, key),
        ])
    }

    /// `CREATE MATERIALIZED VIEW IF NOT EXISTS v TO target AS SELECT … FROM source …` on a cluster:
    /// shard-local source and target.
    fn create_view(&self, statement: &str, words: &[&str]) -> Option<Vec<String>> {
        let view = name_of(words.get(6)?)?;
        if !words.get(7)?.eq_ignore_ascii_case("TO") || !words.get(9)?.eq_ignore_ascii_case("AS") {
            return None;
        }
        let target = name_of(words.get(8)?)?;
        let select_at = find_word(statement, "SELECT")?;
        let select = &statement[select_at..];
        let from_at = find_word(select, "FROM")?;
        let after_from = select[from_at + "FROM".len()..].trim_start();
        let source_end = after_from.find(|c: char| c.is_whitespace()).unwrap_or(after_from.len());
        let source = name_of(&after_from[..source_end])?;
        if find_word(&after_from[source_end..], "FROM").is_some() || find_word(select, "JOIN").is_some() {
            return None;
        }
        Some(vec![format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {} ON CLUSTER `{}` TO {} AS\n{}FROM {}{}",
            self.qualified(view),
            self.cluster,
            self.qualified_local(target),
            &select[..from_at],
            self.qualified_local(source),
            &after_from[source_end..],
        )])
    }
}

/// Whether a table's column list has `stream_id`.
fn has_stream_id(columns: &str) -> bool {
    columns.split([',', '(', '\n']).any(|column| column.split_whitespace().next() == Some("stream_id"))
}

/// A plain table name (letters, digits, `_`), or `None`.
fn name_of(word: &str) -> Option<&str> {
    let name = word.trim_end_matches(['(', ';']);
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// Byte offset of `word` (upper case) as a whole word in `text`, case-insensitively.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let upper = text.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    upper
        .match_indices(word)
        .map(|(at, _)| at)
        .find(|&at| (at == 0 || !is_name(bytes[at - 1])) && bytes.get(at + word.len()).is_none_or(|&b| !is_name(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CLICKHOUSE_MIGRATIONS;

    const TARGET: ClusterTarget<'static> = ClusterTarget { cluster: "sightline", database: "db" };

    #[test]
    fn every_migration_has_a_cluster_form() {
        for migration in CLICKHOUSE_MIGRATIONS {
            for statement in migration.statements() {
                let cluster = TARGET.statements(&statement);
                assert!(cluster.is_ok(), "migration {}: {cluster:?}", migration.version);
            }
        }
    }

    #[test]
    fn a_table_becomes_replicated_local_tables_under_a_distributed_one() {
        let statements = TARGET
            .statements(
                "CREATE TABLE IF NOT EXISTS tracks\n(\n    track_id String,\n    stream_id String,\n    version UInt64\n)\n\
                 ENGINE = ReplacingMergeTree(version)\nPARTITION BY toDate(first_seen)\nORDER BY (stream_id, track_id)",
            )
            .unwrap();
        assert_eq!(statements.len(), 2);
        assert!(
            statements[0].starts_with("CREATE TABLE IF NOT EXISTS `db`.`tracks_local` ON CLUSTER `sightline`\n(\n")
        );
        assert!(statements[0].contains(
            "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/tracks_local', '{replica}', version)\nPARTITION BY"
        ));
        assert_eq!(
            statements[1],
            "CREATE TABLE IF NOT EXISTS `db`.`tracks` ON CLUSTER `sightline` AS `db`.`tracks_local` \
             ENGINE = Distributed(`sightline`, `db`, `tracks_local`, cityHash64(stream_id))"
        );
        let plain = TARGET
            .statements("CREATE TABLE IF NOT EXISTS e (stream_id String) ENGINE = MergeTree() ORDER BY stream_id");
        assert!(
            plain.unwrap()[0].contains(
                "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/e_local', '{replica}') ORDER BY"
            )
        );
    }

    #[test]
    fn every_table_the_migrations_leave_is_sharded_by_stream() {
        let mut tables = std::collections::BTreeMap::new();
        for migration in CLICKHOUSE_MIGRATIONS {
            for statement in migration.statements() {
                let words: Vec<&str> = statement.split_whitespace().collect();
                match words.as_slice() {
                    ["CREATE", "TABLE", "IF", "NOT", "EXISTS", name, ..] => {
                        let table = name_of(name).unwrap();
                        let columns =
                            &statement[statement.find('(').unwrap()..find_word(&statement, "ENGINE").unwrap()];
                        tables.insert(table.to_owned(), has_stream_id(columns));
                    }
                    ["DROP", "TABLE", "IF", "EXISTS", name] => {
                        tables.remove(*name);
                    }
                    _ => {}
                }
            }
        }
        assert!(tables.len() >= 10, "{tables:?}");
        // face_descriptors is filled only by its view from events, shard by shard.
        let unsharded: Vec<_> =
            tables.iter().filter(|(_, sharded)| !**sharded).map(|(name, _)| name.as_str()).collect();
        assert_eq!(unsharded, ["face_descriptors"], "tables without stream_id");
        let spread =
            TARGET.statements("CREATE TABLE IF NOT EXISTS t (id UInt64) ENGINE = MergeTree() ORDER BY id").unwrap();
        assert!(spread[1].ends_with("`t_local`, rand())"), "{spread:?}");
    }

    #[test]
    fn a_view_reads_and_writes_the_shards_own_tables() {
        let statements = TARGET
            .statements("CREATE MATERIALIZED VIEW IF NOT EXISTS keys_mv TO keys AS\nSELECT event_id, stream_id FROM events WHERE x")
            .unwrap();
        assert_eq!(
            statements,
            ["CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.`keys_mv` ON CLUSTER `sightline` TO `db`.`keys_local` AS\n\
              SELECT event_id, stream_id FROM `db`.`events_local` WHERE x"]
        );
        assert!(
            TARGET
                .statements("CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT a FROM x JOIN y USING a")
                .is_err()
        );
    }

    #[test]
    fn alters_drops_and_backfills() {
        let added = TARGET.statements("ALTER TABLE tracks ADD COLUMN clip_key String DEFAULT ''").unwrap();
        assert_eq!(
            added[0],
            "ALTER TABLE `db`.`tracks_local` ON CLUSTER `sightline` ADD COLUMN clip_key String DEFAULT ''"
        );
        assert_eq!(added[1], "DROP TABLE IF EXISTS `db`.`tracks` ON CLUSTER `sightline`");
        assert!(added[2].contains("AS `db`.`tracks_local` ENGINE = Distributed("));
        assert_eq!(
            TARGET.statements("DROP TABLE IF EXISTS old").unwrap(),
            [
                "DROP TABLE IF EXISTS `db`.`old` ON CLUSTER `sightline`",
                "DROP TABLE IF EXISTS `db`.`old_local` ON CLUSTER `sightline`"
            ]
        );
        assert_eq!(TARGET.statements("INSERT INTO a SELECT * FROM b").unwrap(), ["INSERT INTO a SELECT * FROM b"]);
        assert!(TARGET.statements("RENAME TABLE a TO b").is_err());
    }

    #[test]
    fn the_history_is_one_table_on_every_server() {
        let ddl = TARGET.history_table();
        assert!(
            ddl.starts_with("CREATE TABLE IF NOT EXISTS `db`.`schema_migrations` ON CLUSTER `sightline` ("),
            "{ddl}"
        );
        assert!(ddl.contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/db/schema_migrations', '{replica}') ORDER BY version"), "{ddl}");
    }

    #[test]
    fn maintenance_runs_on_every_shards_local_table() {
        assert_eq!(
            TARGET
                .maintenance("ALTER TABLE matches DELETE\nWHERE event_id IN (SELECT event_id FROM erasure_targets)")
                .unwrap(),
            "ALTER TABLE `db`.`matches_local` ON CLUSTER `sightline` DELETE\nWHERE event_id IN (SELECT event_id FROM `db`.`erasure_targets_local`)"
        );
        // Every subquery of the erasure's mutations reads the shard's own list; a name that says its
        // database is left alone.
        for statement in crate::statements(crate::queries::ERASE_TRACKS) {
            let clustered = TARGET.maintenance(&statement).unwrap();
            assert!(clustered.contains("FROM `db`.`erasure_targets_local` WHERE erasure_id = ?"), "{clustered}");
            assert!(!clustered.contains("FROM erasure_targets"), "{clustered}");
        }
        assert_eq!(
            TARGET
                .maintenance("ALTER TABLE t DELETE WHERE x IN (SELECT x FROM other.t2) AND y IN (select y from t3)")
                .unwrap(),
            "ALTER TABLE `db`.`t_local` ON CLUSTER `sightline` DELETE WHERE x IN (SELECT x FROM other.t2) AND y IN (select y from `db`.`t3_local`)"
        );
        assert_eq!(
            TARGET.maintenance("OPTIMIZE TABLE best_shot_jpegs PARTITION 202612 FINAL").unwrap(),
            "OPTIMIZE TABLE `db`.`best_shot_jpegs_local` ON CLUSTER `sightline` PARTITION 202612 FINAL"
        );
        assert_eq!(
            TARGET.maintenance("TRUNCATE TABLE events").unwrap(),
            "TRUNCATE TABLE `db`.`events_local` ON CLUSTER `sightline`"
        );
        assert!(TARGET.maintenance("SELECT 1").is_err());
    }
}
