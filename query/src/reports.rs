//! Reports of the warehouse's events, rendered by `sightline-exporter`: every event of a query as
//! CSV, and a summary PDF for people (totals, streams, watchlist persons, the latest events with
//! their best shots). The download endpoints serve them; the scheduler mails them.

use std::collections::{BTreeMap, BTreeSet};

use sightline_common::keys::KeyRing;
use sightline_common::warehouse::WarehouseError;
use sightline_exporter::{
    EventRecord, HeatmapCell, MatchRecord, PersonTotals, Report, ReportClock, StreamTotals, TimelineBucket,
};
use sqlx::PgPool;

use crate::params::{EventsRequest, PersonsRequest, Scope, TimelineRequest, default_bucket_ms};
use crate::store::{EventRow, MatchRow, TimelineRow, Warehouse};

/// Events read per warehouse query while collecting a report's rows (after one query for their ids).
const FETCH_CHUNK: usize = 1_000;

/// Every event `request` selects, newest first, up to its `limit`, each with its matches and, given
/// `best_shots` (the keys that open sealed ones), its best-shot JPEG: the ids in one page query,
/// then the rows in chunks.
pub async fn collect_events(
    warehouse: &Warehouse,
    request: &EventsRequest,
    best_shots: Option<&KeyRing>,
) -> Result<Vec<EventRecord>, WarehouseError> {
    let page = warehouse.page(request).await?;
    let mut records = Vec::with_capacity(page.len());
    for chunk in page.chunks(FETCH_CHUNK) {
        let rows = warehouse.events_by_id(chunk).await?;
        let mut matches = warehouse.matches_by_event(&rows).await?;
        for row in rows {
            let best_shot = match (best_shots, row.has_best_shot != 0, row.id.parse()) {
                (Some(keys), true, Ok(id)) => warehouse.best_shot(id, keys).await?,
                _ => None,
            };
            let event_matches = matches.remove(&row.id).unwrap_or_default();
            records.push(event_record(row, event_matches, best_shot));
        }
    }
    Ok(records)
}

/// An event row and its matches as the exporter's record.
pub fn event_record(row: EventRow, matches: Vec<MatchRow>, best_shot: Option<Vec<u8>>) -> EventRecord {
    EventRecord {
        capture_ms: row.capture_ms,
        site: row.site,
        stream_id: row.stream_id,
        kind: row.kind,
        track_id: row.track_id,
        detection_score: row.detection_score,
        quality: row.quality,
        frame_count: row.frame_count,
        first_seen_ms: row.first_seen_ms,
        last_seen_ms: row.last_seen_ms,
        matches: matches
            .into_iter()
            .map(|m| MatchRecord {
                list_name: m.list_name,
                display_name: m.person_display_name,
                external_id: m.person_external_id,
                similarity: m.similarity,
            })
            .collect(),
        best_shot,
        id: row.id,
    }
}

/// The filters of `request` as (name, value), for the report's header.
fn filters(request: &EventsRequest) -> Vec<(String, String)> {
    let filter = &request.filter;
    [
        ("site", filter.site.clone()),
        ("stream", filter.stream.clone()),
        ("kind", filter.kind.map(|k| k.label().to_owned())),
        ("list", filter.list.clone()),
        ("person", filter.person.clone()),
        ("matched", filter.matched_only.then(|| "true".to_owned())),
        ("every_report", filter.every_report.then(|| "true".to_owned())),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name.to_owned(), value?)))
    .collect()
}

/// The summary report of `request`, its times in `clock`'s zone: the streams (of its site and
/// stream filters), the most sighted persons (of its list filter), the tracks per bucket over the
/// range, the arrivals by weekday and hour, and up to `limit` events with their best shots: the
/// newest with a watchlist match first, then the newest of the rest. Streams are shown by id until
/// [`name_streams`] names them.
pub async fn summary(
    warehouse: &Warehouse,
    keys: &KeyRing,
    request: &EventsRequest,
    title: &str,
    generated_ms: i64,
    clock: ReportClock,
) -> Result<Report, WarehouseError> {
    let filter = &request.filter;
    let streams = warehouse
        .streams(&request.range)
        .await?
        .into_iter()
        .filter(|s| filter.site.as_ref().is_none_or(|site| &s.site == site))
        .filter(|s| filter.stream.as_ref().is_none_or(|stream| &s.stream_id == stream))
        .map(|s| StreamTotals {
            site: s.site,
            stream_id: s.stream_id,
            faces: s.faces,
            bodies: s.bodies,
            matched: s.matched,
        })
        .collect();
    // The most sighted persons of the list filter; with a person filter, that person only.
    let persons_request =
        PersonsRequest { range: request.range, list: filter.list.clone(), person: filter.person.clone(), limit: 20 };
    let persons = warehouse
        .persons(&persons_request)
        .await?
        .into_iter()
        .map(|p| PersonTotals {
            display_name: p.display_name,
            external_id: p.external_id,
            list_name: p.list_name,
            sightings: p.sightings,
            best_similarity: p.best_similarity,
        })
        .collect();
    let timeline_request = TimelineRequest {
        range: request.range,
        site: filter.site.clone(),
        stream: filter.stream.clone(),
        bucket_ms: default_bucket_ms(request.range.to_ms - request.range.from_ms),
    };
    let timeline = timeline_buckets(&timeline_request, warehouse.timeline(&timeline_request).await?);
    let scope =
        Scope { range: request.range, site: filter.site.clone(), stream: filter.stream.clone(), kind: filter.kind };
    let heatmap = warehouse
        .heatmap(&scope, clock.name())
        .await?
        .into_iter()
        .map(|c| HeatmapCell { day_of_week: c.day_of_week, hour: c.hour, tracks: c.tracks })
        .collect();
    Ok(Report {
        title: title.to_owned(),
        generated_ms,
        from_ms: request.range.from_ms,
        to_ms: request.range.to_ms,
        clock,
        filters: filters(request),
        streams,
        stream_names: BTreeMap::new(),
        persons,
        timeline,
        timeline_bucket_ms: timeline_request.bucket_ms,
        heatmap,
        events: matched_first(warehouse, keys, request).await?,
        events_selected: selected(warehouse, request).await?,
    })
}

/// The most events a summary counts for "N of M shown".
const EVENTS_COUNTED: u32 = 100_000;

/// How many events `request`'s filters select in its range (ids only), and whether the count
/// stopped at [`EVENTS_COUNTED`].
async fn selected(warehouse: &Warehouse, request: &EventsRequest) -> Result<(u64, bool), WarehouseError> {
    let counting = EventsRequest { limit: EVENTS_COUNTED, cursor: None, ..request.clone() };
    let found = warehouse.page(&counting).await?.len() as u64;
    Ok((found, found >= u64::from(EVENTS_COUNTED)))
}

/// Up to `request.limit` events with best shots: the newest with a watchlist match, then the
/// newest of the others.
async fn matched_first(
    warehouse: &Warehouse,
    keys: &KeyRing,
    request: &EventsRequest,
) -> Result<Vec<EventRecord>, WarehouseError> {
    let mut matched_request = request.clone();
    matched_request.filter.matched_only = true;
    let mut events = collect_events(warehouse, &matched_request, Some(keys)).await?;
    if events.len() < request.limit as usize && !request.filter.matched_only {
        let shown: BTreeSet<String> = events.iter().map(|e| e.id.clone()).collect();
        let rest = collect_events(warehouse, request, Some(keys)).await?;
        let room = request.limit as usize - events.len();
        events.extend(rest.into_iter().filter(|e| !shown.contains(&e.id) && e.matches.is_empty()).take(room));
    }
    Ok(events)
}

/// Every bucket of the range, oldest first, with its faces, bodies and matched tracks (zero where
/// the warehouse has no row).
fn timeline_buckets(request: &TimelineRequest, rows: Vec<TimelineRow>) -> Vec<TimelineBucket> {
    let range = &request.range;
    let count = ((range.to_ms - range.from_ms) + request.bucket_ms - 1) / request.bucket_ms;
    let mut buckets: Vec<TimelineBucket> = (0..count.max(0))
        .map(|i| TimelineBucket { start_ms: range.from_ms + i * request.bucket_ms, faces: 0, bodies: 0, matched: 0 })
        .collect();
    for row in rows {
        let index = (row.bucket_ms - range.from_ms).div_euclid(request.bucket_ms);
        let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) else { continue };
        match row.kind.as_str() {
            "face" => bucket.faces += row.tracks,
            _ => bucket.bodies += row.tracks,
        }
        bucket.matched += row.matched;
    }
    buckets
}

/// Names the report's streams (the operators' names from PostgreSQL's `streams`) and its list and
/// person filters (the watchlists' names); a stream, list or person not registered there keeps its
/// id.
pub async fn name_streams(pool: &PgPool, report: &mut Report) -> Result<(), sqlx::Error> {
    name_lists_and_persons(pool, report).await?;
    let ids: BTreeSet<&str> = report
        .streams
        .iter()
        .map(|s| s.stream_id.as_str())
        .chain(report.events.iter().map(|e| e.stream_id.as_str()))
        .chain(report.filters.iter().filter(|(name, _)| name == "stream").map(|(_, value)| value.as_str()))
        .collect();
    let ids: Vec<String> = ids.into_iter().map(str::to_owned).collect();
    let names: Vec<(String, String)> = sqlx::query_as("SELECT id::text, name FROM streams WHERE id::text = ANY($1)")
        .bind(&ids)
        .fetch_all(pool)
        .await?;
    report.stream_names = names.into_iter().collect();
    for (name, value) in &mut report.filters {
        if name == "stream"
            && let Some(stream_name) = report.stream_names.get(value.as_str())
        {
            *value = stream_name.clone();
        }
    }
    Ok(())
}

/// The list and person filters of `report` by name instead of id (an id no longer known stays).
async fn name_lists_and_persons(pool: &PgPool, report: &mut Report) -> Result<(), sqlx::Error> {
    for (name, value) in &mut report.filters {
        let sql = match name.as_str() {
            "list" => "SELECT name FROM watchlists WHERE id::text = $1",
            "person" => "SELECT display_name FROM watchlist_persons WHERE id::text = $1",
            _ => continue,
        };
        if let Some(named) = sqlx::query_scalar::<_, String>(sql).bind(value.as_str()).fetch_optional(pool).await? {
            *value = named;
        }
    }
    Ok(())
}
