//! The analysts' counts on real ClickHouse (18.16) over a generated warehouse with unmerged
//! duplicates (`warehouse_load`: 3 days, 24 streams, one row in ten inserted twice): the query
//! service's reads (the hourly counts of `track_hour_sets`, cached per day, plus the partial hours
//! from `tracks`, and the per-track listing) must equal the generator's own counts, taken from `events` with
//! `uniqExact` over the event ids. The newer answers (identified persons per day, dwell, the
//! hour-of-week heatmap, visits) must equal the same answers worked out in the test from the
//! generator's rows. The cached counts must follow tracks landing in a day already counted.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::warehouse::ClickHouseSettings;
use sightline_query::params::{EventFilter, EventsRequest, TimeRange, TimelineRequest};
use sightline_query::store::Warehouse;
use sightline_testkit::stack;
use sightline_testkit::warehouse_load::WarehouseLoad;
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// (bucket start ms, kind) -> (tracks, matched), as the generator counts them from `events`.
async fn generated_timeline(
    settings: &ClickHouseSettings,
    range: &TimeRange,
    bucket_ms: i64,
    site: &str,
) -> anyhow::Result<BTreeMap<(i64, String), (u64, u64)>> {
    let rows: Vec<(i64, String, u64, u64)> = settings
        .read_client()
        .query(
            "SELECT intDiv(greatest(first_seen_ms, ?), ?) * ? AS bucket, toString(kind), uniqExact(event_id), \
             uniqExactIf(event_id, length(matched_person_ids) > 0) \
             FROM events WHERE last_seen_ms >= ? AND first_seen_ms < ? AND (? = '' OR site = ?) \
             GROUP BY bucket, kind",
        )
        .bind(range.from_ms)
        .bind(bucket_ms)
        .bind(bucket_ms)
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(site)
        .bind(site)
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|(bucket, kind, tracks, matched)| ((bucket, kind), (tracks, matched))).collect())
}

#[tokio::test]
async fn counts_equal_the_generators_with_duplicates_unmerged() -> anyhow::Result<()> {
    let settings = stack::clickhouse(&format!("test_analytics_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let end_ms = 1_795_996_800_000; // 2026-12-01T00:00:00Z
    let load = WarehouseLoad { tracks: 30_000, end_ms, days: 3, best_shots: 2_000, duplicate_every: 10 };
    let dataset = load.ensure(&settings).await?;
    assert!(dataset.event_rows > dataset.tracks + dataset.tracks / 20, "about one row in ten is a copy");
    let warehouse = Warehouse::new(&settings, stack::object_store(&settings.database)?);

    // Whole days by day, an unaligned 30-hour range by hour (partial first and last hours, tracks
    // from before the range), and one site.
    let cases = [
        (TimeRange { from_ms: end_ms - 3 * DAY_MS, to_ms: end_ms }, DAY_MS, None),
        (TimeRange { from_ms: end_ms - 30 * HOUR_MS - 1_234_567, to_ms: end_ms - 777_777 }, HOUR_MS, None),
        (TimeRange { from_ms: end_ms - 30 * HOUR_MS - 1_234_567, to_ms: end_ms - 777_777 }, HOUR_MS, Some("site-b")),
        (TimeRange { from_ms: end_ms - 2 * HOUR_MS - 5_000, to_ms: end_ms - HOUR_MS + 5_000 }, 60_000, None),
    ];
    for (range, bucket_ms, site) in cases {
        let request = TimelineRequest { range, site: site.map(str::to_owned), stream: None, bucket_ms };
        let served: BTreeMap<(i64, String), (u64, u64)> = warehouse
            .timeline(&request)
            .await?
            .into_iter()
            .map(|row| ((row.bucket_ms, row.kind), (row.tracks, row.matched)))
            .collect();
        let want = generated_timeline(&settings, &range, bucket_ms, site.unwrap_or("")).await?;
        assert!(want.values().map(|(tracks, _)| tracks).sum::<u64>() > 100, "the case has tracks");
        assert_eq!(served, want, "timeline of {range:?} by {bucket_ms} ms, site {site:?}");
    }

    // Per stream over the unaligned range: faces, bodies, matched, each track once.
    let range = TimeRange { from_ms: end_ms - 30 * HOUR_MS - 1_234_567, to_ms: end_ms - 777_777 };
    let served: BTreeMap<String, (u64, u64, u64)> =
        warehouse.streams(&range).await?.into_iter().map(|s| (s.stream_id, (s.faces, s.bodies, s.matched))).collect();
    let want: Vec<(String, u64, u64, u64)> = settings
        .read_client()
        .query(
            "SELECT stream_id, uniqExactIf(event_id, kind = 'face'), uniqExactIf(event_id, kind = 'body'), \
             uniqExactIf(event_id, length(matched_person_ids) > 0) \
             FROM events WHERE last_seen_ms >= ? AND first_seen_ms < ? GROUP BY stream_id",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all()
        .await?;
    let want: BTreeMap<String, (u64, u64, u64)> = want.into_iter().map(|(s, f, b, m)| (s, (f, b, m))).collect();
    assert_eq!(served, want);

    // The per-track listing: every track whose report is in the last 6 hours, once, across pages.
    let range = TimeRange { from_ms: end_ms - 6 * HOUR_MS, to_ms: end_ms };
    let mut request = EventsRequest { range, filter: EventFilter::default(), limit: 1_000, cursor: None };
    let mut listed = Vec::new();
    loop {
        let rows = warehouse.events(&request).await?;
        listed.extend(rows.iter().map(|row| row.id.clone()));
        match sightline_query::store::next_cursor(&rows, request.limit) {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    let distinct: std::collections::BTreeSet<&String> = listed.iter().collect();
    assert_eq!(distinct.len(), listed.len(), "no track twice");
    let want: u64 = settings
        .read_client()
        .query("SELECT uniqExact(event_id) FROM events WHERE capture_ms >= ? AND capture_ms < ?")
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_one()
        .await?;
    assert_eq!(listed.len() as u64, want);

    new_answers_equal_the_generators(&settings, &warehouse, end_ms).await?;
    cached_counts_follow_new_parts(&settings, &warehouse, end_ms).await?;
    settings.server_client().query(&format!("DROP DATABASE {}", settings.database)).execute().await?;
    Ok(())
}

/// The hourly counts the store caches per day follow the warehouse: a track landing in a day already
/// counted (a new part of that day) is counted by the next read, and a replayed copy of a counted
/// track is not.
async fn cached_counts_follow_new_parts(
    settings: &ClickHouseSettings,
    warehouse: &Warehouse,
    end_ms: i64,
) -> anyhow::Result<()> {
    let range = TimeRange { from_ms: end_ms - 2 * DAY_MS, to_ms: end_ms };
    let faces = |rows: Vec<sightline_query::store::StreamSummaryRow>| -> BTreeMap<String, u64> {
        rows.into_iter().map(|s| (s.stream_id, s.faces)).collect()
    };
    let before = faces(warehouse.streams(&range).await?);
    assert_eq!(faces(warehouse.streams(&range).await?), before, "a second read (from the cache) is the same");
    let client = settings.read_client();
    let late_first_ms = end_ms - 30 * HOUR_MS + 123_000;
    client
        .query(
            "INSERT INTO tracks (track_id, stream_id, site, kind, first_seen, first_seen_ms, last_seen_ms, version) \
             VALUES ('late-track', 'cam-10', 'site-a', 'face', toDateTime(?), ?, ?, 1)",
        )
        .bind(late_first_ms / 1000)
        .bind(late_first_ms)
        .bind(late_first_ms + 5_000)
        .execute()
        .await?;
    client
        .query("INSERT INTO tracks SELECT * FROM tracks WHERE kind = 'face' AND first_seen_ms >= ? LIMIT 5")
        .bind(end_ms - 40 * HOUR_MS)
        .execute()
        .await?;
    let mut want = before;
    *want.get_mut("cam-10").expect("cam-10 has faces") += 1;
    assert_eq!(faces(warehouse.streams(&range).await?), want, "the late track once, the copies not at all");
    Ok(())
}

/// One generated track as `events` holds it (each copy of its row is the same).
struct GeneratedTrack {
    site: String,
    first_ms: i64,
    last_ms: i64,
    list: String,
    person: String,
}

/// Every generated track, by event id (one event per track), copies collapsed here.
async fn generated_tracks(settings: &ClickHouseSettings) -> anyhow::Result<BTreeMap<String, GeneratedTrack>> {
    let rows: Vec<(String, String, i64, i64, String, String)> = settings
        .read_client()
        .query(
            "SELECT toString(event_id), site, first_seen_ms, last_seen_ms, \
             if(empty(matched_list_ids), '', matched_list_ids[1]), if(empty(matched_person_ids), '', matched_person_ids[1]) \
             FROM events",
        )
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, site, first_ms, last_ms, list, person)| {
            (id, GeneratedTrack { site, first_ms, last_ms, list, person })
        })
        .collect())
}

/// Identified persons per day, dwell, the hour-of-week heatmap and visits, each against the same
/// answer worked out here from the generator's rows (copies collapsed by event id), in fixed-offset
/// time zones so the calendar arithmetic is plain: India (UTC+5:30) and Japan (UTC+9).
async fn new_answers_equal_the_generators(
    settings: &ClickHouseSettings,
    warehouse: &Warehouse,
    end_ms: i64,
) -> anyhow::Result<()> {
    let tracks = generated_tracks(settings).await?;
    let range = TimeRange { from_ms: end_ms - 30 * HOUR_MS - 1_234_567, to_ms: end_ms - 777_777 };
    let present: Vec<&GeneratedTrack> =
        tracks.values().filter(|t| t.last_ms >= range.from_ms && t.first_ms < range.to_ms).collect();

    // Unique identified persons and tracks per day from midnight in Kolkata, and site.
    let india_ms = 19_800_000;
    let mut want: BTreeMap<(i64, String), (std::collections::BTreeSet<&str>, u64)> = BTreeMap::new();
    for track in present.iter().filter(|t| !t.person.is_empty()) {
        let local = track.first_ms.max(range.from_ms) + india_ms;
        let day = local.div_euclid(DAY_MS) * DAY_MS - india_ms;
        let entry = want.entry((day, track.site.clone())).or_default();
        entry.0.insert(&track.person);
        entry.1 += 1;
    }
    let want: BTreeMap<(i64, String), (u64, u64)> =
        want.into_iter().map(|(key, (persons, n))| (key, (persons.len() as u64, n))).collect();
    let counts = warehouse.identified(&range, &None, "Asia/Kolkata").await?;
    let served: BTreeMap<(i64, String), (u64, u64)> =
        counts.by_site.iter().map(|row| ((row.day_ms, row.site.clone()), (row.persons, row.tracks))).collect();
    assert!(want.values().map(|(_, n)| n).sum::<u64>() > 20, "the case has identified tracks");
    assert_eq!(served, want, "identified persons per day and site");

    // Per day across the sites, and in the whole range: a person seen at several sites (or on
    // several days) counts once.
    let mut by_day: BTreeMap<i64, (std::collections::BTreeSet<&str>, u64)> = BTreeMap::new();
    let mut everyone = std::collections::BTreeSet::new();
    for track in present.iter().filter(|t| !t.person.is_empty()) {
        let local = track.first_ms.max(range.from_ms) + india_ms;
        let entry = by_day.entry(local.div_euclid(DAY_MS) * DAY_MS - india_ms).or_default();
        entry.0.insert(&track.person);
        entry.1 += 1;
        everyone.insert(track.person.as_str());
    }
    let by_day: BTreeMap<i64, (u64, u64)> =
        by_day.into_iter().map(|(day, (persons, n))| (day, (persons.len() as u64, n))).collect();
    let served_by_day: BTreeMap<i64, (u64, u64)> =
        counts.by_day.iter().map(|day| (day.day_ms, (day.persons, day.tracks))).collect();
    assert_eq!(served_by_day, by_day, "identified persons per day across the sites");
    let sum_of_sites: u64 = served.values().map(|(persons, _)| persons).sum();
    assert!(sum_of_sites > by_day.values().map(|(persons, _)| persons).sum::<u64>(), "some persons at two sites a day");
    let identified = by_day.values().map(|(_, n)| n).sum::<u64>();
    assert_eq!((counts.total.persons, counts.total.tracks), (everyone.len() as u64, identified), "in the whole range");

    // Dwell of the tracks present: count, mean, median, histogram.
    let scope = |site: Option<&str>| sightline_query::params::Scope {
        range,
        site: site.map(str::to_owned),
        stream: None,
        kind: None,
    };
    let mut dwells: Vec<i64> = present.iter().map(|t| t.last_ms - t.first_ms).collect();
    dwells.sort_unstable();
    let served = warehouse.dwell(&scope(None)).await?;
    assert_eq!(served.tracks, dwells.len() as u64);
    assert_eq!(served.mean_ms, dwells.iter().sum::<i64>() / dwells.len() as i64);
    assert_eq!(served.percentiles_ms[0], dwells[dwells.len() / 2], "median (ClickHouse's exact quantile)");
    let bins = sightline_query::store::DWELL_BINS_MS;
    let mut histogram = vec![0u64; bins.len() + 1];
    for dwell in &dwells {
        histogram[bins.iter().position(|bound| dwell < bound).unwrap_or(bins.len())] += 1;
    }
    assert_eq!(served.histogram, histogram);

    // Arrivals (tracks first seen in the range) of one site by weekday and hour: in Tokyo (read from
    // the hourly track sets, each UTC hour one local hour) and in India (UTC+5:30, from the tracks).
    for (zone, offset_ms) in [("Asia/Tokyo", 9 * HOUR_MS), ("Asia/Kolkata", 11 * HOUR_MS / 2)] {
        let mut want: BTreeMap<(u8, u8), u64> = BTreeMap::new();
        let arrived = |t: &&GeneratedTrack| t.site == "site-b" && (range.from_ms..range.to_ms).contains(&t.first_ms);
        for track in tracks.values().filter(arrived) {
            let local = track.first_ms + offset_ms;
            let days = local.div_euclid(DAY_MS);
            let weekday = ((days + 3).rem_euclid(7) + 1) as u8; // 1970-01-01 was a Thursday; Monday is 1
            *want.entry((weekday, (local.rem_euclid(DAY_MS) / HOUR_MS) as u8)).or_default() += 1;
        }
        let served: BTreeMap<(u8, u8), u64> = warehouse
            .heatmap(&scope(Some("site-b")), zone)
            .await?
            .into_iter()
            .map(|cell| ((cell.day_of_week, cell.hour), cell.tracks))
            .collect();
        assert!(want.len() > 24, "the range spans more than a day");
        assert_eq!(served, want, "arrivals by weekday and hour in {zone}");
    }

    // Visits, tracks and dwell per identified person and site (30-minute gaps).
    let request = sightline_query::params::VisitsRequest {
        range,
        site: None,
        list: None,
        person: None,
        gap_ms: 30 * 60_000,
        limit: 10_000,
    };
    let mut by_person: BTreeMap<(String, String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for track in present.iter().filter(|t| !t.person.is_empty()) {
        let key = (track.list.clone(), track.person.clone(), track.site.clone());
        by_person.entry(key).or_default().push((track.first_ms, track.last_ms));
    }
    let want: BTreeMap<(String, String, String), (u64, u64, i64)> = by_person
        .into_iter()
        .map(|(key, mut spans)| {
            spans.sort_unstable();
            let (firsts, lasts): (Vec<i64>, Vec<i64>) = spans.iter().copied().unzip();
            let visits = sightline_query::store::count_visits(&firsts, &lasts, 30 * 60_000);
            let dwell = spans.iter().map(|(first, last)| last - first).sum();
            (key, (visits, spans.len() as u64, dwell))
        })
        .collect();
    let served: BTreeMap<(String, String, String), (u64, u64, i64)> = warehouse
        .visits(&request)
        .await?
        .into_iter()
        .map(|row| ((row.list_id, row.person_id, row.site), (row.visits, row.tracks, row.dwell_ms)))
        .collect();
    assert!(want.values().any(|(visits, tracks, _)| visits < tracks), "some visits hold several tracks");
    assert_eq!(served, want, "visits per person and site");

    // One person enrolled on two lists with one external id, seen on two tracks whose best matches
    // name each enrolment, counts once; a person without an external id counts by enrolment.
    let before = warehouse.identified(&range, &None, "Asia/Kolkata").await?.total;
    let at_ms = range.from_ms + HOUR_MS;
    let sightings = [
        (9_001, "list-door", "10000000-0000-4000-8000-000000000001", "EXT-TWO-LISTS"),
        (9_002, "list-vip", "10000000-0000-4000-8000-000000000002", "EXT-TWO-LISTS"),
        (9_003, "list-door", "10000000-0000-4000-8000-000000000003", ""),
    ];
    for (track_key, list, person, external) in sightings {
        let row = format!(
            "INSERT INTO identified_tracks SELECT toDateTime({at_s}), {track_key}, 'site-a', 'two-lists', 'face', \
             {at_ms}, {at_ms} + 5000, {at_ms}, toUUID('{person}'), '{list}', '{list}', '{person}', '{external}', \
             'Someone', 0.8, ['{list}'], ['{person}'], 1",
            at_s = at_ms / 1000,
        );
        settings.read_client().query(&row).execute().await?;
    }
    let after = warehouse.identified(&range, &None, "Asia/Kolkata").await?.total;
    assert_eq!(
        (after.persons, after.tracks),
        (before.persons + 2, before.tracks + 3),
        "one person on two lists counts once"
    );
    Ok(())
}
