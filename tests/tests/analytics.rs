//! The analysts' counts on real ClickHouse (18.16) over a generated warehouse with unmerged
//! duplicates (`warehouse_load`: 3 days, 24 streams, one row in ten inserted twice): the query
//! service's reads (the hourly track sets of `track_hours` plus the partial hours from `tracks`,
//! and the per-track listing) must equal the generator's own counts, taken from `events` with
//! `uniqExact` over the event ids.

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
    let warehouse = Warehouse::new(&settings);

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

    settings.server_client().query(&format!("DROP DATABASE {}", settings.database)).execute().await?;
    Ok(())
}
