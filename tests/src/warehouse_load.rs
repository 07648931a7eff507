//! A warehouse of generated tracks, written straight into ClickHouse by `INSERT … SELECT` over
//! `numbers()` (no Kafka, no writer): millions of rows in minutes, for `make bench-query` and for
//! tests that compare the query API's answers with the generator's own counts.
//!
//! The data (one report per track, so a track is one `events` row and one `tracks` row):
//! - `days` days ending at `end_ms`, more people by day than by night (an hour-of-day profile);
//! - 3 sites and 24 streams (`cam-10` to `cam-33`, on `site-a`, `site-b`, `site-c` in turn), the
//!   lower-numbered streams busier;
//! - 60 % faces with 192-d unit descriptors, 40 % bodies without;
//! - about 5 % of faces matched to one of [`PERSONS`] watchlist persons (skewed: some persons are seen
//!   often), in one of 3 lists; a matched face's descriptor lies near its person's (a unit vector
//!   the SQL derives from the person's number), at a cosine similarity of about 0.75;
//! - best shots (real JPEGs, a pool of 64) for the newest `best_shots` tracks;
//! - about 2 % of the rows of every table inserted twice, as replays leave them before a merge.
//!
//! Deterministic: the same settings give the same rows (ids are hashes of the row number).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sightline_common::warehouse::ClickHouseSettings;

/// Watchlist persons the matched faces belong to.
pub const PERSONS: u64 = 2_000;
/// Descriptor dimensions.
pub const DIMENSIONS: usize = 192;
/// Kept tracks per 100 candidates, by hour of day (UTC): quiet nights, busy days.
const HOUR_PROFILE: [u64; 24] =
    [8, 5, 4, 3, 3, 6, 15, 40, 70, 85, 90, 95, 100, 95, 90, 90, 92, 95, 85, 60, 40, 30, 20, 12];
/// Version of the generator: a dataset made by another version is made again.
const GENERATOR_VERSION: &str = "3";

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseLoad {
    /// Tracks wanted (the hour-of-day profile keeps close to this many).
    pub tracks: u64,
    /// End of the generated period, ms since the epoch.
    pub end_ms: i64,
    /// Length of the period, days.
    pub days: u32,
    /// Tracks, the newest, with a stored best shot.
    pub best_shots: u64,
    /// One row in `duplicate_every` is inserted twice.
    pub duplicate_every: u64,
}

/// A generated dataset, as recorded in its database's `bench_dataset` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct Dataset {
    /// The settings' `tracks`.
    pub tracks_wanted: u64,
    /// The settings' `end_ms`.
    pub end_ms: i64,
    /// The settings' `days`.
    pub days: u32,
    /// The settings' `best_shots`.
    pub best_shots: u64,
    /// The settings' `duplicate_every`.
    pub duplicate_every: u64,
    /// Tracks generated (distinct).
    pub tracks: u64,
    /// Rows of `events`, duplicates included.
    pub event_rows: u64,
    /// Start of the period, ms since the epoch.
    pub start_ms: i64,
    /// Generator version.
    pub version: String,
}

/// `SELECT` expression of a deterministic UUID from the UInt64 expression `seed`.
fn uuid_of(seed: &str) -> String {
    let half = |salt: u32| format!("hex(toFixedString(reinterpretAsString(intHash64(({seed}) * 2 + {salt})), 8))");
    format!(
        "toUUID(concat(substring({a}, 1, 8), '-', substring({a}, 9, 4), '-4', substring({a}, 14, 3), '-a', \
         substring({b}, 2, 3), '-', substring({b}, 5, 12)))",
        a = half(0),
        b = half(1)
    )
}

/// A uniform number in [-1, 1] from the UInt64 expression `seed`.
fn uniform(seed: &str) -> String {
    format!("(toFloat32(intHash64({seed}) % 2001) / 1000 - 1)")
}

/// The id of watchlist person number `person` (as the generator writes it).
pub fn person_id(person: u64) -> String {
    format!("00000000-0000-4000-8000-{person:012}")
}

/// Where the hash inputs of the persons' descriptors start (apart from the faces' noise).
const PERSON_SEED: u64 = 1_000_000_007;

/// The statement that inserts every event (one per track).
fn events_sql(load: &WarehouseLoad, candidates: u64, start_ms: i64) -> String {
    let span_ms = i64::from(load.days) * 86_400_000;
    let profile = HOUR_PROFILE.map(|p| p.to_string()).join(", ");
    let best_shot_from = candidates.saturating_sub(best_shot_candidates(load, candidates));
    let noise = uniform(&format!("n * {DIMENSIONS} + j"));
    let centre = uniform(&format!("{PERSON_SEED} + person * {DIMENSIONS} + j"));
    format!(
        "INSERT INTO events
SELECT
    {event_id} AS event_id, {event_id} AS detection_event_id, toUInt16(1), stream_id, site,
    toDateTime(intDiv(capture_ms, 1000)), capture_ms, capture_ms + 120, capture_ms + 310,
    concat(stream_id, '-', toString(n)), '', CAST(if(is_face, 'face', 'body') AS Enum8('face' = 1, 'body' = 2)),
    toFloat32(intHash64(n * 11) % 1000), toFloat32(intHash64(n * 13) % 400), toFloat32(if(is_face, 90, 160)),
    toFloat32(if(is_face, 112, 380)), emptyArrayFloat32(), emptyArrayFloat32(),
    toFloat32(0.6 + (intHash64(n * 17) % 400) / 1000), toFloat32(0.2 + (intHash64(n * 19) % 800) / 1000),
    first_seen_ms, capture_ms + 500 + intHash64(n * 23) % 4000, toUInt32(5 + intHash64(n * 29) % 200),
    toUInt32(1280), toUInt32(720), toUInt8(1), toUInt8(n >= {best_shot_from}),
    descriptor, if(is_face, 'arcface-r100', ''),
    if(is_face, '1', ''), if(is_face, '', 'body'),
    if(matched, [list_id], emptyArrayString()), if(matched, [person_id], emptyArrayString()),
    toFloat32(if(matched, similarity, 0)),
    toInt32(n % 12), toInt64(n)
FROM
(
    SELECT
        -- A lambda sees only columns the query names outside lambdas (18.16), hence the plain list.
        n, capture_ms, is_face, matched, person, stream_id, site, first_seen_ms,
        if(matched, concat('00000000-0000-4000-8000-', substring(toString(1000000000000 + person), 2, 12)), '')
            AS person_id,
        ['00000000-0000-4000-9000-000000000001', '00000000-0000-4000-9000-000000000002',
         '00000000-0000-4000-9000-000000000003'][person % 3 + 1] AS list_id,
        arrayMap(j -> {centre}, range(if(matched, {DIMENSIONS}, 0))) AS centre_raw,
        sqrt(arraySum(arrayMap(x -> x * x, centre_raw))) AS centre_norm,
        arrayMap(x -> x / centre_norm, centre_raw) AS centre,
        arrayMap(j -> centre[j + 1] * 8 + {noise} * 0.9, range(if(is_face, {DIMENSIONS}, 0))) AS raw,
        sqrt(arraySum(arrayMap(x -> x * x, raw))) AS norm,
        arrayMap(x -> toFloat32(x / norm), raw) AS descriptor,
        arraySum(arrayMap(j -> descriptor[j + 1] * centre[j + 1], range(length(centre)))) AS similarity
    FROM
    (
        SELECT
            number AS n,
            toInt64({start_ms} + intDiv(number * {span_ms}, {candidates}) + intHash64(number * 3 + 1) % 1000) AS capture_ms,
            capture_ms - 1000 - intHash64(number * 31) % 8000 AS first_seen_ms,
            toUInt8(intHash64(number * 3) % 100 < 60) AS is_face,
            toUInt8(is_face AND intHash64(number * 5) % 100 < 5) AS matched,
            toUInt64(floor({PERSONS} * pow((intHash64(number * 37) % 1000000) / 1000000, 2))) AS person,
            toUInt64(floor(24 * pow((intHash64(number * 3 + 2) % 1000000) / 1000000, 1.6))) AS stream_no,
            concat('cam-', toString(stream_no + 10)) AS stream_id,
            ['site-a', 'site-b', 'site-c'][stream_no % 3 + 1] AS site
        FROM numbers({candidates})
        WHERE intHash64(number * 41) % 100 < [{profile}][toHour(toDateTime(intDiv(capture_ms, 1000)), 'UTC') + 1]
    )
)",
        event_id = uuid_of("n"),
    )
}

/// Candidate rows (before the hour-of-day profile) that get a best shot: the newest, covering about
/// `load.best_shots` kept tracks.
fn best_shot_candidates(load: &WarehouseLoad, candidates: u64) -> u64 {
    // The newest hours are generated last; the profile keeps about its mean share of them.
    let mean_share = HOUR_PROFILE.iter().sum::<u64>() as f64 / (100.0 * 24.0);
    ((load.best_shots as f64 / mean_share) as u64).min(candidates)
}

/// The statements that fill the other tables from `events`, then duplicate about one row in
/// `load.duplicate_every` of each table.
fn derived_sql(load: &WarehouseLoad) -> Vec<String> {
    let every = load.duplicate_every.max(1);
    vec![
        "INSERT INTO matches
SELECT event_id, capture_time, capture_ms, stream_id, site, matched_list_ids[1],
    ['VIP', 'Staff', 'Banned'][toUInt64(substring(matched_list_ids[1], 36, 1))], matched_person_ids[1],
    concat('EXT-', substring(matched_person_ids[1], 29, 8)), concat('Person ', substring(matched_person_ids[1], 29, 8)),
    top_similarity, toUInt16(1), toFloat32(0.6)
FROM events WHERE length(matched_person_ids) > 0"
            .to_owned(),
        "INSERT INTO best_shot_jpegs (event_id, capture_time, stream_id, jpeg)
SELECT event_id, capture_time, stream_id, jpeg
FROM (SELECT event_id, capture_time, stream_id, toUInt8(cityHash64(toString(event_id)) % 64) AS shot
      FROM events WHERE has_best_shot = 1)
ANY LEFT JOIN bench_jpegs USING shot"
            .to_owned(),
        "INSERT INTO tracks
SELECT
    track_id, stream_id, site, kind, toDateTime(intDiv(first_seen_ms, 1000)), first_seen_ms,
    last_seen_ms, last_seen_ms - first_seen_ms, frame_count, toUInt32(1), track_ended, '', event_id,
    capture_ms, has_best_shot, quality, list_id, list_name, person_id, person_external_id,
    person_display_name, top_similarity, matched_list_ids, matched_person_ids, toUInt64(enriched_ms), '',
    toInt64(0)
FROM events
ANY LEFT JOIN
(
    SELECT event_id, list_id, list_name, person_id, person_external_id, person_display_name FROM matches
) AS m USING event_id"
            .to_owned(),
        format!("INSERT INTO events SELECT * FROM events WHERE source_offset % {every} = 7 % {every}"),
        format!("INSERT INTO matches SELECT * FROM matches WHERE capture_ms % {every} = 3 % {every}"),
        format!(
            "INSERT INTO best_shot_jpegs SELECT * FROM best_shot_jpegs WHERE cityHash64(toString(event_id)) % {every} = 0"
        ),
        format!("INSERT INTO tracks SELECT * FROM tracks WHERE cityHash64(track_id) % {every} = 5 % {every}"),
    ]
}

#[derive(Serialize, clickhouse::Row)]
struct JpegRow {
    shot: u8,
    #[serde(with = "serde_bytes")]
    jpeg: Vec<u8>,
}

impl Dataset {
    /// Whether this dataset was made by this generator with `load`.
    fn made_by(&self, load: &WarehouseLoad) -> bool {
        (self.tracks_wanted, self.end_ms, self.days, self.best_shots, self.duplicate_every)
            == (load.tracks, load.end_ms, load.days, load.best_shots, load.duplicate_every)
            && self.version == GENERATOR_VERSION
    }
}

impl WarehouseLoad {
    /// Candidate rows before the hour-of-day profile drops some.
    fn candidates(&self) -> u64 {
        let mean_share = HOUR_PROFILE.iter().sum::<u64>() as f64 / (100.0 * 24.0);
        (self.tracks as f64 / mean_share).ceil() as u64
    }

    /// The dataset in `settings`' database: the one recorded there if it was made with these
    /// settings by this generator, otherwise the database is emptied, migrated and filled.
    pub async fn ensure(&self, settings: &ClickHouseSettings) -> anyhow::Result<Dataset> {
        let client = settings.read_client();
        let recorded: Option<Dataset> =
            client.query("SELECT ?fields FROM bench_dataset LIMIT 1").fetch_optional().await.ok().flatten();
        if let Some(dataset) = recorded.filter(|d| d.made_by(self)) {
            // Migrations added since the dataset was made fill their tables from it.
            sightline_common::warehouse::migrate(settings).await.context("migrating the dataset's database")?;
            return Ok(dataset);
        }
        let server = settings.server_client();
        server.query(&format!("DROP DATABASE IF EXISTS {}", settings.database)).execute().await?;
        sightline_common::warehouse::migrate(settings).await.context("migrating the dataset's database")?;
        client.query("CREATE TABLE bench_jpegs (shot UInt8, jpeg String) ENGINE = Memory").execute().await?;
        let mut insert = client.insert::<JpegRow>("bench_jpegs").await?;
        for shot in 0..64u8 {
            insert.write(&JpegRow { shot, jpeg: crate::loadgen::noise_jpeg(u64::from(shot) + 9_000) }).await?;
        }
        insert.end().await?;

        let candidates = self.candidates();
        let start_ms = self.end_ms - i64::from(self.days) * 86_400_000;
        let large = client
            .clone()
            .with_option("max_block_size", "262144")
            .with_option("max_insert_block_size", "1048576")
            .with_option("max_memory_usage", "8000000000")
            .with_option("max_threads", "2");
        large.query(&events_sql(self, candidates, start_ms)).execute().await.context("generating events")?;
        for statement in derived_sql(self) {
            large.query(&statement).execute().await.with_context(|| format!("running {statement}"))?;
        }
        client.query("DROP TABLE bench_jpegs").execute().await?;
        let tracks: u64 = client.query("SELECT uniqExact(event_id) FROM events").fetch_one().await?;
        let event_rows: u64 = client.query("SELECT count() FROM events").fetch_one().await?;
        let dataset = Dataset {
            tracks_wanted: self.tracks,
            end_ms: self.end_ms,
            days: self.days,
            best_shots: self.best_shots,
            duplicate_every: self.duplicate_every,
            tracks,
            event_rows,
            start_ms,
            version: GENERATOR_VERSION.to_owned(),
        };
        client
            .query(
                "CREATE TABLE bench_dataset (tracks_wanted UInt64, end_ms Int64, days UInt32, best_shots UInt64, \
                 duplicate_every UInt64, tracks UInt64, event_rows UInt64, start_ms Int64, version String) \
                 ENGINE = TinyLog",
            )
            .execute()
            .await?;
        let mut record = client.insert::<Dataset>("bench_dataset").await?;
        record.write(&dataset).await?;
        record.end().await?;
        Ok(dataset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_ids_are_those_the_sql_writes() {
        // concat('00000000-0000-4000-8000-', substring(toString(1000000000000 + person), 2, 12))
        assert_eq!(person_id(42), "00000000-0000-4000-8000-000000000042");
        assert_eq!(person_id(1999), "00000000-0000-4000-8000-000000001999");
    }
}
