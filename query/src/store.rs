//! Reads from the warehouse: the queries of `schemas/clickhouse/queries` (also checked on current
//! ClickHouse), bound in the order their `-- params:` lines give. Every read is `FINAL`, so a replayed
//! event is seen once (see docs/writer.md).

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError, query_error};
use sightline_schemas::queries;
use std::collections::HashMap;
use uuid::Uuid;

use crate::params::{Cursor, EventsRequest, PersonsRequest, TimeRange, TimelineRequest};

/// One event as the API lists it (the columns of `events_page.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct EventRow {
    /// Event id (UUID).
    pub id: String,
    /// Camera or file.
    pub stream_id: String,
    /// Site of the stream.
    pub site: String,
    /// `face` or `body`.
    pub kind: String,
    /// Capture time of the best shot, ms since the epoch.
    pub capture_ms: i64,
    /// When ingest emitted the detection, ms since the epoch.
    pub processing_ms: i64,
    /// When enrich emitted the event, ms since the epoch.
    pub enriched_ms: i64,
    /// Track within the stream.
    pub track_id: String,
    /// The body track holding this face, if any.
    pub parent_track_id: String,
    /// Box left, frame pixels.
    pub bbox_x: f32,
    /// Box top.
    pub bbox_y: f32,
    /// Box width.
    pub bbox_w: f32,
    /// Box height.
    pub bbox_h: f32,
    /// Detector score of the best shot.
    pub detection_score: f32,
    /// Best-shot quality in [0, 1].
    pub quality: f32,
    /// First frame of the track, ms since the epoch.
    pub first_seen_ms: i64,
    /// Last frame of the track, ms since the epoch.
    pub last_seen_ms: i64,
    /// Frames in the track.
    pub frame_count: u32,
    /// Frame width, pixels.
    pub frame_width: u32,
    /// Frame height, pixels.
    pub frame_height: u32,
    /// 1 when a best-shot image is stored.
    pub has_best_shot: u8,
    /// Descriptor model (empty without a descriptor).
    pub descriptor_model: String,
    /// Why there is no descriptor (empty with one).
    pub descriptor_skip_reason: String,
    /// Best watchlist similarity (0 without a match).
    pub top_similarity: f32,
}

/// Where the page after `rows` starts, when `rows` is a full page of `limit` events; `None` after
/// the last page.
pub fn next_cursor(rows: &[EventRow], limit: u32) -> Option<Cursor> {
    let last = rows.last().filter(|_| rows.len() == limit as usize)?;
    Some(Cursor { capture_ms: last.capture_ms, event_id: last.id.parse().ok()? })
}

/// One watchlist match of an event (the columns of `event_matches.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct MatchRow {
    /// The matched event.
    #[serde(skip_serializing)]
    pub id: String,
    /// Watchlist id.
    pub list_id: String,
    /// Watchlist name.
    pub list_name: String,
    /// Person id.
    pub person_id: String,
    /// The person's id in the customer's system.
    pub person_external_id: String,
    /// The person's display name.
    pub person_display_name: String,
    /// Cosine similarity.
    pub similarity: f32,
    /// Rank among the event's matches in its list (1 = best).
    pub rank: u16,
}

/// Tracks (people or bodies) of one kind in one time bucket: those first seen in it.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct TimelineRow {
    /// Bucket start, ms since the epoch.
    pub bucket_ms: i64,
    /// `face` or `body`.
    pub kind: String,
    /// Tracks.
    pub tracks: u64,
    /// Tracks identified by a watchlist match.
    pub matched: u64,
}

/// What one stream saw in a time range.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct StreamSummaryRow {
    /// Site.
    pub site: String,
    /// Stream.
    pub stream_id: String,
    /// Face tracks.
    pub faces: u64,
    /// Body tracks.
    pub bodies: u64,
    /// Tracks identified by a watchlist match.
    pub matched: u64,
    /// Latest sighting, ms since the epoch.
    pub last_capture_ms: i64,
}

/// How often a watchlist person was seen in a time range.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct PersonSightingsRow {
    /// Watchlist id.
    pub list_id: String,
    /// Watchlist name.
    pub list_name: String,
    /// Person id.
    pub person_id: String,
    /// The person's id in the customer's system.
    pub external_id: String,
    /// Display name.
    pub display_name: String,
    /// Tracks whose best match is the person.
    pub sightings: u64,
    /// Best similarity.
    pub best_similarity: f32,
    /// Latest sighting, ms since the epoch.
    pub last_capture_ms: i64,
}

#[derive(clickhouse::Row, Deserialize)]
struct BestShotRow {
    #[serde(with = "serde_bytes")]
    jpeg: Vec<u8>,
}

/// The warehouse, read-only.
#[derive(Clone)]
pub struct Warehouse {
    client: Client,
}

/// A filter bound as `(? = '' OR column = ?)`: the value twice, '' for none.
fn optional(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

impl Warehouse {
    /// Reads the warehouse `settings` name.
    pub fn new(settings: &ClickHouseSettings) -> Self {
        Self { client: settings.read_client() }
    }

    /// `query` with the range bound as its seconds, then its milliseconds.
    fn ranged(&self, sql: &str, range: &TimeRange) -> clickhouse::query::Query {
        let (from_s, to_s) = range.seconds();
        self.client.query(sql).bind(from_s).bind(to_s).bind(range.from_ms).bind(range.to_ms)
    }

    /// `sql` over the tracks present in `range`, bound as its end in seconds, then its start and
    /// end in ms.
    fn tracks_in(&self, sql: &str, range: &TimeRange) -> clickhouse::query::Query {
        let (_, to_s) = range.seconds();
        self.client.query(sql).bind(to_s).bind(range.from_ms).bind(range.to_ms)
    }

    /// One page of events, newest first.
    pub async fn events(&self, request: &EventsRequest) -> Result<Vec<EventRow>, WarehouseError> {
        let filter = &request.filter;
        let kind = filter.kind.map(|k| k.label()).unwrap_or("");
        let (before_ms, before_id) = match &request.cursor {
            Some(cursor) => (cursor.capture_ms, cursor.event_id.to_string()),
            None => (i64::MAX, String::new()),
        };
        let (_, to_s) = request.range.seconds();
        let every_report = u8::from(filter.every_report);
        self.ranged(queries::EVENTS_PAGE, &request.range)
            .bind(optional(&filter.site))
            .bind(optional(&filter.site))
            .bind(optional(&filter.stream))
            .bind(optional(&filter.stream))
            .bind(kind)
            .bind(kind)
            .bind(every_report)
            .bind(optional(&filter.list))
            .bind(optional(&filter.list))
            .bind(optional(&filter.person))
            .bind(optional(&filter.person))
            .bind(u8::from(filter.matched_only))
            .bind(every_report)
            .bind(to_s)
            .bind(optional(&filter.list))
            .bind(optional(&filter.list))
            .bind(optional(&filter.person))
            .bind(optional(&filter.person))
            .bind(u8::from(filter.matched_only))
            .bind(before_ms)
            .bind(before_ms)
            .bind(before_id)
            .bind(request.limit)
            .fetch_all()
            .await
            .map_err(query_error("reading events"))
    }

    /// The watchlist matches of `events`, by event id, best rank first.
    pub async fn matches_by_event(
        &self,
        events: &[EventRow],
    ) -> Result<HashMap<String, Vec<MatchRow>>, WarehouseError> {
        let mut by_event: HashMap<String, Vec<MatchRow>> = HashMap::new();
        for row in self.matches_of(events).await? {
            by_event.entry(row.id.clone()).or_default().push(row);
        }
        Ok(by_event)
    }

    /// The watchlist matches of `events`; each row names its event.
    async fn matches_of(&self, events: &[EventRow]) -> Result<Vec<MatchRow>, WarehouseError> {
        let (Some(first), Some(last)) =
            (events.iter().map(|e| e.capture_ms).min(), events.iter().map(|e| e.capture_ms).max())
        else {
            return Ok(Vec::new());
        };
        let range = TimeRange { from_ms: first, to_ms: last + 1 };
        let (from_s, to_s) = range.seconds();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        self.client
            .query(queries::EVENT_MATCHES)
            .bind(from_s)
            .bind(to_s)
            .bind(ids.clone())
            .bind(from_s)
            .bind(to_s)
            .bind(ids)
            .fetch_all()
            .await
            .map_err(query_error("reading matches"))
    }

    /// The event `id`, if it landed.
    pub async fn event(&self, id: Uuid) -> Result<Option<EventRow>, WarehouseError> {
        self.client
            .query(queries::EVENT_BY_ID)
            .bind(id.to_string())
            .fetch_optional()
            .await
            .map_err(query_error("reading an event"))
    }

    /// The best-shot JPEG of event `id`, if stored.
    pub async fn best_shot(&self, id: Uuid) -> Result<Option<Vec<u8>>, WarehouseError> {
        let row: Option<BestShotRow> = self
            .client
            .query(queries::BEST_SHOT)
            .bind(id.to_string())
            .fetch_optional()
            .await
            .map_err(query_error("reading a best shot"))?;
        Ok(row.map(|r| r.jpeg))
    }

    /// Events per bucket and kind.
    pub async fn timeline(&self, request: &TimelineRequest) -> Result<Vec<TimelineRow>, WarehouseError> {
        let (_, to_s) = request.range.seconds();
        self.client
            .query(queries::TIMELINE)
            .bind(request.range.from_ms)
            .bind(request.bucket_ms)
            .bind(request.bucket_ms)
            .bind(to_s)
            .bind(request.range.from_ms)
            .bind(request.range.to_ms)
            .bind(optional(&request.site))
            .bind(optional(&request.site))
            .bind(optional(&request.stream))
            .bind(optional(&request.stream))
            .fetch_all()
            .await
            .map_err(query_error("reading the timeline"))
    }

    /// What each stream saw.
    pub async fn streams(&self, range: &TimeRange) -> Result<Vec<StreamSummaryRow>, WarehouseError> {
        self.tracks_in(queries::STREAM_SUMMARY, range)
            .fetch_all()
            .await
            .map_err(query_error("reading stream summaries"))
    }

    /// The most sighted watchlist persons.
    pub async fn persons(&self, request: &PersonsRequest) -> Result<Vec<PersonSightingsRow>, WarehouseError> {
        self.tracks_in(queries::TOP_MATCHED_PERSONS, &request.range)
            .bind(optional(&request.list))
            .bind(optional(&request.list))
            .bind(request.limit)
            .fetch_all()
            .await
            .map_err(query_error("reading top persons"))
    }

    /// Whether the warehouse answers.
    pub async fn ping(&self) -> Result<(), WarehouseError> {
        self.client.query("SELECT 1").fetch_one::<u8>().await.map(|_| ()).map_err(query_error("pinging"))
    }
}
