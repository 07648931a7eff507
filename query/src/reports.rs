//! Reports of the warehouse's events, rendered by `sightline-exporter`: every event of a query as
//! CSV, and a summary PDF for people (totals, streams, watchlist persons, the latest events with
//! their best shots). The download endpoints serve them; the scheduler mails them.

use sightline_common::warehouse::WarehouseError;
use sightline_exporter::{EventRecord, MatchRecord, PersonTotals, Report, StreamTotals};

use crate::params::{EventsRequest, PersonsRequest};
use crate::store::{EventRow, MatchRow, Warehouse};

/// Events read per warehouse query while collecting a report's rows (after one query for their ids).
const FETCH_CHUNK: usize = 1_000;

/// Every event `request` selects, newest first, up to its `limit`, each with its matches and, if
/// `with_best_shots`, its best-shot JPEG: the ids in one page query, then the rows in chunks.
pub async fn collect_events(
    warehouse: &Warehouse,
    request: &EventsRequest,
    with_best_shots: bool,
) -> Result<Vec<EventRecord>, WarehouseError> {
    let page = warehouse.page(request).await?;
    let mut records = Vec::with_capacity(page.len());
    for chunk in page.chunks(FETCH_CHUNK) {
        let rows = warehouse.events_by_id(chunk).await?;
        let mut matches = warehouse.matches_by_event(&rows).await?;
        for row in rows {
            let best_shot = match (with_best_shots, row.has_best_shot != 0, row.id.parse()) {
                (true, true, Ok(id)) => warehouse.best_shot(id).await?,
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

/// The summary report of `request`: the streams (of its site and stream filters), the most sighted
/// persons (of its list filter), and its latest `limit` events with their best shots.
pub async fn summary(
    warehouse: &Warehouse,
    request: &EventsRequest,
    title: &str,
    generated_ms: i64,
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
    let persons_request = PersonsRequest { range: request.range, list: filter.list.clone(), limit: 20 };
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
    Ok(Report {
        title: title.to_owned(),
        generated_ms,
        from_ms: request.range.from_ms,
        to_ms: request.range.to_ms,
        filters: filters(request),
        streams,
        persons,
        events: collect_events(warehouse, request, true).await?,
    })
}
