//! Reads from the warehouse: the queries of `schemas/clickhouse/queries` (also checked on current
//! ClickHouse), bound in the order their `-- params:` lines give. A replayed event is seen once, but
//! no read pays FINAL: lists and counts group a track's rows by the track (its latest version), and
//! point reads take one copy of rows that are identical in every copy (see docs/warehouse.md).

use clickhouse::Client;
use clickhouse::query::Query;
use serde::{Deserialize, Serialize};
use sightline_common::keys::KeyRing;
use sightline_common::objects::{ClipLayout, ObjectStore};
use sightline_common::sealing::open_stored_best_shot;
use sightline_common::warehouse::{ClickHouseSettings, WarehouseError, query_error};
use sightline_schemas::queries;
use std::collections::HashMap;
use uuid::Uuid;

use crate::face_search;
use crate::hour_counts::{HourCount, HourCounts, WARM_DAYS};
use crate::params::{
    Cursor, EventFilter, EventsRequest, FaceSearchRequest, ObjectKind, PersonsRequest, Scope, TimeRange,
    TimelineRequest, VisitsRequest,
};

/// A face to search for: its descriptor (unit length) and the model that made it (faces of other
/// models are not comparable).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Face {
    /// The descriptor.
    pub descriptor: Vec<f32>,
    /// Model name.
    pub descriptor_model: String,
    /// Model version.
    pub descriptor_model_version: String,
}

/// A candidate face of a search (`face_candidates.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct CandidateRow {
    /// Event id.
    pub id: String,
    /// Camera or file.
    pub stream_id: String,
    /// Track within the stream.
    pub track_id: String,
    /// Site of the stream.
    pub site: String,
    /// Capture time of the face, ms since the epoch.
    pub capture_ms: i64,
    /// Whether the event has a best shot.
    pub has_best_shot: u8,
}

/// The exact similarity of a candidate face (`face_similarities.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
pub struct SimilarityRow {
    /// Event id.
    pub id: String,
    /// Cosine similarity to the face searched for.
    pub similarity: f64,
}

/// A track a face search found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FaceSearchRow {
    /// Camera or file.
    pub stream_id: String,
    /// Track within the stream.
    pub track_id: String,
    /// Site of the stream.
    pub site: String,
    /// Highest similarity of the track's reports to the face searched for.
    pub similarity: f64,
    /// The report with that similarity (its best shot shows the face).
    pub event_id: String,
    /// That report's capture time, ms since the epoch.
    #[serde(skip_serializing)]
    pub event_capture_ms: i64,
    /// Whether that report has a best shot.
    #[serde(skip_serializing)]
    pub has_best_shot: u8,
    /// First capture of a matching report, ms since the epoch.
    pub first_ms: i64,
    /// Last capture of a matching report, ms since the epoch.
    pub last_ms: i64,
    /// Reports of the track at or above the threshold.
    pub sightings: u64,
}

/// The tracks of the candidates at or above `threshold`: per track its best similarity and that
/// report, its first and last matching capture and how many reports matched; best first (ties by
/// stream and track), at most `limit`.
pub fn rank_tracks(
    candidates: Vec<CandidateRow>,
    similarities: Vec<SimilarityRow>,
    threshold: f32,
    limit: u32,
) -> Vec<FaceSearchRow> {
    let similarity: HashMap<String, f64> = similarities.into_iter().map(|row| (row.id, row.similarity)).collect();
    let mut tracks: HashMap<(String, String), FaceSearchRow> = HashMap::new();
    for candidate in candidates {
        let Some(&score) = similarity.get(&candidate.id) else { continue };
        if score < f64::from(threshold) {
            continue;
        }
        let key = (candidate.stream_id.clone(), candidate.track_id.clone());
        let track = tracks.entry(key).or_insert_with(|| FaceSearchRow {
            stream_id: candidate.stream_id.clone(),
            track_id: candidate.track_id.clone(),
            site: candidate.site.clone(),
            similarity: f64::NEG_INFINITY,
            event_id: String::new(),
            event_capture_ms: 0,
            has_best_shot: 0,
            first_ms: candidate.capture_ms,
            last_ms: candidate.capture_ms,
            sightings: 0,
        });
        if score > track.similarity {
            track.similarity = score;
            track.event_id = candidate.id;
            track.event_capture_ms = candidate.capture_ms;
            track.has_best_shot = candidate.has_best_shot;
        }
        track.first_ms = track.first_ms.min(candidate.capture_ms);
        track.last_ms = track.last_ms.max(candidate.capture_ms);
        track.sightings += 1;
    }
    let mut ranked: Vec<FaceSearchRow> = tracks.into_values().collect();
    ranked.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then_with(|| (&a.stream_id, &a.track_id).cmp(&(&b.stream_id, &b.track_id)))
    });
    ranked.truncate(limit as usize);
    ranked
}

/// One event as the API lists it (the columns of `events_by_id.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Lists of the matches of the event's latest enrichment, pairwise with `matched_person_ids`.
    #[serde(skip_serializing)]
    pub matched_list_ids: Vec<String>,
    /// Persons of those matches.
    #[serde(skip_serializing)]
    pub matched_person_ids: Vec<String>,
}

impl EventRow {
    /// Whether `row` is one of this event's matches as of its latest enrichment.
    pub fn has_match(&self, row: &MatchRow) -> bool {
        self.matched_list_ids
            .iter()
            .zip(&self.matched_person_ids)
            .any(|(list, person)| *list == row.list_id && *person == row.person_id)
    }
}

/// One row of a page query: an event and its capture time.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct PageRow {
    /// Event id.
    pub id: String,
    /// Its capture time, ms since the epoch.
    pub capture_ms: i64,
}

/// Where the page after `rows` starts, when `rows` is a full page of `limit` events; `None` after
/// the last page.
pub fn next_cursor(rows: &[EventRow], limit: u32) -> Option<Cursor> {
    let last = rows.last().filter(|_| rows.len() == limit as usize)?;
    Some(Cursor { capture_ms: last.capture_ms, event_id: last.id.parse().ok()? })
}

/// One watchlist match of an event (the columns of `event_matches.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Unique persons a watchlist match identified, and their tracks, on one day across the sites asked for.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifiedDay {
    /// Start of the day (midnight in the requested time zone), ms since the epoch.
    pub day_ms: i64,
    /// Distinct persons (one person seen at several sites that day counts once).
    pub persons: u64,
    /// Identified tracks.
    pub tracks: u64,
}

/// Unique persons a watchlist match identified, and their tracks, in a whole range.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifiedTotal {
    /// Distinct persons (one person seen on several days or at several sites counts once).
    pub persons: u64,
    /// Identified tracks.
    pub tracks: u64,
}

/// The identified persons of a range: per day and site, per day, and in all.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifiedCounts {
    /// Per day and site, oldest first.
    pub by_site: Vec<IdentifiedRow>,
    /// Per day across the sites asked for, oldest first.
    pub by_day: Vec<IdentifiedDay>,
    /// In the whole range.
    pub total: IdentifiedTotal,
}

/// Unique persons a watchlist match identified, and their tracks, on one day at one site.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifiedRow {
    /// Start of the day (midnight in the requested time zone), ms since the epoch.
    pub day_ms: i64,
    /// Site.
    pub site: String,
    /// Distinct persons.
    pub persons: u64,
    /// Identified tracks.
    pub tracks: u64,
}

/// Upper bounds of the dwell histogram's bins, ms (the last bin is everything longer).
pub const DWELL_BINS_MS: [i64; 7] = [5_000, 15_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

/// How long tracks stayed in view (`dwell.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DwellRow {
    /// Tracks.
    pub tracks: u64,
    /// Mean dwell, ms.
    pub mean_ms: i64,
    /// 50th, 90th and 99th percentiles, ms.
    pub percentiles_ms: Vec<i64>,
    /// Tracks per bin of [`DWELL_BINS_MS`] (one more bin than bounds).
    pub histogram: Vec<u64>,
}

/// Arrivals in one hour of the week.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeatmapRow {
    /// 1 (Monday) to 7 (Sunday), in the requested time zone.
    pub day_of_week: u8,
    /// 0 to 23, in the requested time zone.
    pub hour: u8,
    /// Tracks first seen then.
    pub tracks: u64,
}

/// A person's tracks at one site (`person_tracks.sql`).
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Deserialize)]
struct PersonTracksRow {
    list_id: String,
    person_id: String,
    site: String,
    external_id: String,
    display_name: String,
    tracks: u64,
    dwell_ms: i64,
    firsts_ms: Vec<i64>,
    lasts_ms: Vec<i64>,
}

/// A person's visits to one site.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VisitsRow {
    /// Watchlist.
    pub list_id: String,
    /// Person.
    pub person_id: String,
    /// Site.
    pub site: String,
    /// The person's external id.
    pub external_id: String,
    /// The person's name.
    pub display_name: String,
    /// Visits: runs of tracks each starting within the gap of the end of those before.
    pub visits: u64,
    /// Tracks.
    pub tracks: u64,
    /// Summed dwell of the tracks, ms.
    pub dwell_ms: i64,
    /// First sighting, ms since the epoch.
    pub first_ms: i64,
    /// Last sighting, ms since the epoch.
    pub last_ms: i64,
}

/// Visits among tracks given by their first and last sightings, in order of the first: a track
/// starting more than `gap_ms` after every track before it has ended begins a new visit.
pub fn count_visits(firsts_ms: &[i64], lasts_ms: &[i64], gap_ms: i64) -> u64 {
    let mut visits = 0;
    let mut seen_until = i64::MIN;
    for (&first, &last) in firsts_ms.iter().zip(lasts_ms) {
        if visits == 0 || first.saturating_sub(seen_until) > gap_ms {
            visits += 1;
        }
        seen_until = seen_until.max(last);
    }
    visits
}

/// What one stream saw in a time range.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Where an event is in `events` (`event_key.sql`): the columns its sort key begins with.
#[derive(clickhouse::Row, Deserialize)]
struct EventKey {
    site: String,
    stream_id: String,
    kind: String,
    capture_s: u32,
}

#[derive(clickhouse::Row, Deserialize)]
struct ClipRow {
    clip_key: String,
    clip_start_ms: i64,
}

#[derive(clickhouse::Row, Deserialize)]
struct BestShotRow {
    #[serde(with = "serde_bytes")]
    jpeg: Vec<u8>,
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
    stream_id: String,
    track_id: String,
    object_key: String,
    object_sealed: u8,
}

/// The warehouse, read-only, with the cache of hourly counts its clones share.
#[derive(Clone)]
pub struct Warehouse {
    client: Client,
    hours: HourCounts,
    objects: ObjectStore,
}

/// An hour, ms.
const HOUR_MS: i64 = 3_600_000;
/// The first window a page is looked for in (see [`Warehouse::page`]).
const FIRST_WINDOW_MS: i64 = HOUR_MS;

/// The whole hours inside `range`, `[first, end)` in seconds: those the hourly counts
/// ([`HourCounts`]) answer for. Empty (`first >= end`) when the range holds no whole hour.
fn whole_hours(range: &TimeRange) -> (u32, u32) {
    let first = range.from_ms.div_euclid(HOUR_MS) + i64::from(range.from_ms.rem_euclid(HOUR_MS) != 0);
    let end = range.to_ms.div_euclid(HOUR_MS);
    let seconds = |hour: i64| (hour * 3600).clamp(0, i64::from(u32::MAX)) as u32;
    (seconds(first), seconds(end.max(first)))
}

/// Whether `zone`'s offset from UTC is a whole number of hours at every hour of `range` (then each
/// UTC hour is one local hour). False for an unknown zone.
fn offsets_are_whole_hours(zone: &str, range: &TimeRange) -> bool {
    let Ok(zone) = jiff::tz::TimeZone::get(zone) else { return false };
    let mut hour = range.from_ms.div_euclid(HOUR_MS) * HOUR_MS;
    while hour < range.to_ms {
        match jiff::Timestamp::from_millisecond(hour) {
            Ok(at) if zone.to_offset(at).seconds() % 3600 == 0 => hour += HOUR_MS,
            _ => return false,
        }
    }
    true
}

/// Whether `count` is of `site`, `stream` and `kind` (each `None` for any).
fn in_scope(count: &HourCount, site: &Option<String>, stream: &Option<String>, kind: Option<ObjectKind>) -> bool {
    site.as_ref().is_none_or(|site| *site == count.site)
        && stream.as_ref().is_none_or(|stream| *stream == count.stream_id)
        && kind.is_none_or(|kind| kind.label() == count.kind)
}

/// Binds the site, stream and kind filters of `filter`, each twice (`(? = '' OR column = ?)`).
fn bind_scope(query: Query, filter: &EventFilter) -> Query {
    bind_site_stream_kind(query, &filter.site, &filter.stream, filter.kind)
}

/// Binds a site, stream and kind filter, each twice ('' for none).
fn bind_site_stream_kind(
    query: Query,
    site: &Option<String>,
    stream: &Option<String>,
    kind: Option<ObjectKind>,
) -> Query {
    let kind = kind.map(|k| k.label()).unwrap_or("");
    query.bind(optional(site)).bind(optional(site)).bind(optional(stream)).bind(optional(stream)).bind(kind).bind(kind)
}

/// Binds the list and person filters of `filter`, each twice.
fn bind_list_and_person(query: Query, filter: &EventFilter) -> Query {
    query
        .bind(optional(&filter.list))
        .bind(optional(&filter.list))
        .bind(optional(&filter.person))
        .bind(optional(&filter.person))
}

/// Binds the match filters of `filter`: list and person (each twice), then matched only (1/0).
fn bind_matches(query: Query, filter: &EventFilter) -> Query {
    bind_list_and_person(query, filter).bind(u8::from(filter.matched_only))
}

/// A filter bound as `(? = '' OR column = ?)`: the value twice, '' for none.
fn optional(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

impl Warehouse {
    /// The shard of the cluster that `replicas` (named by an error) belong to: its number and all its
    /// replicas, `None` off a cluster or when the cluster does not list them.
    pub async fn shard_of(&self, replicas: &[String]) -> Option<(u32, String)> {
        let cluster = self.hours.cluster()?;
        let query = self.client.query(queries::CLUSTER_SHARD_OF).bind(cluster).bind(replicas);
        match query.fetch_optional::<(u32, String)>().await {
            Ok(shard) => shard,
            Err(error) => {
                tracing::warn!(%error, "naming the shard that does not answer");
                None
            }
        }
    }

    /// Reads the warehouse `settings` name.
    /// The warehouse `settings` name, its images in `objects`.
    pub fn new(settings: &ClickHouseSettings, objects: ObjectStore) -> Self {
        Self { client: settings.read_client(), hours: HourCounts::for_warehouse(settings), objects }
    }

    /// `query` with the range bound as its seconds, then its milliseconds.
    fn ranged(&self, sql: &str, range: &TimeRange) -> Query {
        let (from_s, to_s) = range.seconds();
        self.client.query(sql).bind(from_s).bind(to_s).bind(range.from_ms).bind(range.to_ms)
    }

    /// `sql` over the tracks present in `range`, bound as its start in ms, its end in seconds (partition
    /// pruning) and in ms.
    fn tracks_in(&self, sql: &str, range: &TimeRange) -> Query {
        let (_, to_s) = range.seconds();
        self.client.query(sql).bind(range.from_ms).bind(to_s).bind(range.to_ms)
    }

    /// One page of events, newest first: per track its latest report (`track_page.sql`; with a
    /// list, person or matched filter its latest report with a match, `identified_page.sql`), or
    /// every report (`report_page.sql`); then the page's rows (`events_by_id.sql`).
    pub async fn events(&self, request: &EventsRequest) -> Result<Vec<EventRow>, WarehouseError> {
        let page = self.page(request).await?;
        self.events_by_id(&page).await
    }

    /// The ids and capture times of the events of one page, newest first.
    ///
    /// The page is looked for in a window that ends where it starts (the range's end, or the
    /// cursor) and grows eightfold, from an hour, until it holds a full page or covers the range: a
    /// query costs what its window holds, and the newest page of a busy month is in its last hour.
    /// A window `[start, end)` gives the newest events of the range before `end` exactly: an event
    /// it leaves out is older than every event it holds. Pages of one person's tracks are read in
    /// one query over the range: they are few, and a rarely seen person would need every window.
    pub async fn page(&self, request: &EventsRequest) -> Result<Vec<PageRow>, WarehouseError> {
        if request.filter.person.is_some() && !request.filter.every_report {
            // A person's tracks are few and found by a semi-join within the identified tracks: one
            // query over the range costs less than the windows a rarely seen person would need.
            return self.page_in(request).await;
        }
        let end_ms = request.cursor.as_ref().map_or(request.range.to_ms, |c| c.capture_ms.saturating_add(1));
        let mut window_ms = FIRST_WINDOW_MS;
        loop {
            let from_ms = end_ms.saturating_sub(window_ms).max(request.range.from_ms);
            let window = EventsRequest { range: TimeRange { from_ms, ..request.range }, ..request.clone() };
            let rows = self.page_in(&window).await?;
            if rows.len() >= request.limit as usize || from_ms <= request.range.from_ms {
                return Ok(rows);
            }
            window_ms = window_ms.saturating_mul(8);
        }
    }

    /// [`Warehouse::page`] over the whole of `request.range`, in one query.
    async fn page_in(&self, request: &EventsRequest) -> Result<Vec<PageRow>, WarehouseError> {
        let filter = &request.filter;
        let (before_ms, before_id) = match &request.cursor {
            Some(cursor) => (cursor.capture_ms, cursor.event_id.to_string()),
            None => (i64::MAX, String::new()),
        };
        let range = &request.range;
        let (_, to_s) = range.seconds();
        let query = if filter.every_report {
            bind_matches(bind_scope(self.ranged(queries::REPORT_PAGE, range), filter), filter)
        } else if filter.needs_match() {
            let person = optional(&filter.person);
            let query = bind_scope(self.client.query(queries::IDENTIFIED_PAGE).bind(range.from_ms).bind(to_s), filter);
            let query = query.bind(person).bind(range.from_ms).bind(to_s).bind(person);
            bind_list_and_person(query.bind(range.from_ms).bind(range.to_ms), filter)
        } else {
            let query = bind_scope(self.client.query(queries::TRACK_PAGE).bind(range.from_ms).bind(to_s), filter);
            query.bind(range.from_ms).bind(range.to_ms)
        };
        query
            .bind(before_ms)
            .bind(before_ms)
            .bind(before_id)
            .bind(request.limit)
            .fetch_all()
            .await
            .map_err(query_error("reading a page of events"))
    }

    /// The events of `page`, in its order.
    pub async fn events_by_id(&self, page: &[PageRow]) -> Result<Vec<EventRow>, WarehouseError> {
        let Some(query) = self.by_ids(queries::EVENTS_BY_ID, page.iter().map(|e| (e.id.as_str(), e.capture_ms))) else {
            return Ok(Vec::new());
        };
        let rows: Vec<EventRow> = query.fetch_all().await.map_err(query_error("reading events"))?;
        let mut by_id: HashMap<String, EventRow> = rows.into_iter().map(|row| (row.id.clone(), row)).collect();
        Ok(page.iter().filter_map(|entry| by_id.remove(&entry.id)).collect())
    }

    /// `sql` bound with the capture-time span (seconds, end exclusive) of `events` (id, capture
    /// time in ms) and their ids, as `events_by_id.sql` and `event_matches.sql` take them; `None`
    /// when there are no events.
    fn by_ids<'a>(&self, sql: &str, events: impl Iterator<Item = (&'a str, i64)>) -> Option<Query> {
        let (ids, times): (Vec<&str>, Vec<i64>) = events.unzip();
        let span = TimeRange { from_ms: *times.iter().min()?, to_ms: times.iter().max()? + 1 };
        let (from_s, to_s) = span.seconds();
        Some(self.client.query(sql).bind(from_s).bind(to_s).bind(ids))
    }

    /// The watchlist matches of `events` (those of each event's latest enrichment), by event id, best
    /// rank first.
    pub async fn matches_by_event(
        &self,
        events: &[EventRow],
    ) -> Result<HashMap<String, Vec<MatchRow>>, WarehouseError> {
        let mut by_event: HashMap<String, Vec<MatchRow>> = HashMap::new();
        let events_by_id: HashMap<&str, &EventRow> = events.iter().map(|e| (e.id.as_str(), e)).collect();
        for row in self.matches_of(events).await? {
            if events_by_id.get(row.id.as_str()).is_some_and(|event| event.has_match(&row)) {
                by_event.entry(row.id.clone()).or_default().push(row);
            }
        }
        Ok(by_event)
    }

    /// The watchlist matches of `events`, every enrichment's; each row names its event.
    async fn matches_of(&self, events: &[EventRow]) -> Result<Vec<MatchRow>, WarehouseError> {
        let with_matches = events.iter().filter(|e| !e.matched_person_ids.is_empty());
        let Some(query) = self.by_ids(queries::EVENT_MATCHES, with_matches.map(|e| (e.id.as_str(), e.capture_ms)))
        else {
            return Ok(Vec::new());
        };
        query.fetch_all().await.map_err(query_error("reading matches"))
    }

    /// Every event `request` selects, at most its `limit`, newest first, as a cursor that streams
    /// them from ClickHouse (one query, `export_events.sql`).
    pub fn export(&self, request: &EventsRequest) -> Result<clickhouse::query::RowCursor<EventRow>, WarehouseError> {
        self.export_query(queries::EXPORT_EVENTS, request).fetch().map_err(query_error("starting an export"))
    }

    /// How many events [`Warehouse::export`] would stream (counting stops past `request.limit`).
    pub async fn export_count(&self, request: &EventsRequest) -> Result<u64, WarehouseError> {
        let count = format!("SELECT count() FROM ({})", queries::EXPORT_EVENTS);
        self.export_query(&count, request).fetch_one().await.map_err(query_error("counting an export"))
    }

    /// `sql` (`export_events.sql` or a query over it) bound for `request`.
    fn export_query(&self, sql: &str, request: &EventsRequest) -> Query {
        let filter = &request.filter;
        let range = &request.range;
        let (_, to_s) = range.seconds();
        let every_report = u8::from(filter.every_report);
        let query = bind_scope(self.ranged(sql, range), filter).bind(every_report);
        let query = bind_matches(query, filter).bind(1 - every_report).bind(range.from_ms).bind(to_s);
        let query = bind_scope(query, filter).bind(range.from_ms).bind(range.to_ms);
        bind_matches(query, filter).bind(request.limit)
    }

    /// The event `id`, if it landed.
    pub async fn event(&self, id: Uuid) -> Result<Option<EventRow>, WarehouseError> {
        // Two short reads: where the event is, then the row there (one granule per part).
        let id = id.to_string();
        let key: Option<EventKey> = self
            .client
            .query(queries::EVENT_KEY)
            .bind(id.as_str())
            .fetch_optional()
            .await
            .map_err(query_error("locating an event"))?;
        let Some(key) = key else { return Ok(None) };
        let query = self.client.query(queries::EVENT_BY_ID).bind(id.as_str()).bind(key.site).bind(key.stream_id);
        query.bind(key.kind).bind(key.capture_s).fetch_optional().await.map_err(query_error("reading an event"))
    }

    /// The clip of `event`'s track: its folder in the object store and the capture time of its time
    /// 0, ms since the epoch. `None` when the track has no clip.
    pub async fn clip(&self, event: &EventRow) -> Result<Option<(String, i64)>, WarehouseError> {
        let first_seen_s = u32::try_from(event.first_seen_ms.div_euclid(1000)).unwrap_or(0);
        let clip: Option<ClipRow> = self
            .client
            .query(queries::TRACK_CLIP)
            .bind(event.site.as_str())
            .bind(event.stream_id.as_str())
            .bind(event.kind.as_str())
            .bind(first_seen_s)
            .bind(event.track_id.as_str())
            .fetch_optional()
            .await
            .map_err(query_error("finding a track's clip"))?;
        Ok(clip.map(|clip| (clip.clip_key, clip.clip_start_ms)))
    }

    /// Where the pieces of the clip in `folder` are (one listing); `None` when it is gone.
    pub async fn clip_layout(&self, folder: &str) -> Result<Option<ClipLayout>, WarehouseError> {
        Ok(self.objects.clip_layout(folder).await?)
    }

    /// Bytes `first..=last` of a clip laid out as `layout`, from the pieces they cover; `None` when
    /// the clip changed since it was listed.
    pub async fn clip_bytes(
        &self,
        layout: &ClipLayout,
        first: u64,
        last: u64,
    ) -> Result<Option<Vec<u8>>, WarehouseError> {
        Ok(self.objects.read_clip_range(layout, first, last).await?)
    }

    /// The box path of `event`'s track in its clip (from the clip's `boxes.json`, stored when the
    /// clip is complete, which holds every track the clip shows): `{"boxes": [...]}`.
    pub async fn clip_boxes(&self, event: &EventRow) -> Result<Option<serde_json::Value>, WarehouseError> {
        let Some((folder, _)) = self.clip(event).await? else { return Ok(None) };
        let key = format!("{folder}/{}", sightline_common::objects::CLIP_BOXES);
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        let mut paths: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(paths) => paths,
            Err(error) => {
                tracing::warn!(%error, key, "a clip's box paths are not JSON");
                return Ok(None);
            }
        };
        // Clips stored before clips were shared hold their one track's path as `boxes`.
        let boxes = match paths.get_mut("tracks") {
            Some(tracks) => tracks.get_mut(event.track_id.as_str()).map(serde_json::Value::take),
            None => paths.get_mut("boxes").map(serde_json::Value::take),
        };
        Ok(boxes.map(|boxes| serde_json::json!({ "boxes": boxes })))
    }

    /// Whether ClickHouse knows time zone `zone` (an unknown zone fails the query that names it).
    pub async fn knows_time_zone(&self, zone: &str) -> Result<bool, WarehouseError> {
        match self.client.query("SELECT toString(toDateTime(0, ?))").bind(zone).fetch_one::<String>().await {
            Ok(_) => Ok(true),
            Err(error) if error.to_string().contains("time zone") => Ok(false),
            Err(error) => Err(query_error("checking a time zone")(error)),
        }
    }

    /// Unique identified persons and identified tracks per day (from midnight in `zone`) and site,
    /// per day across the sites asked for, and in the whole range.
    pub async fn identified(
        &self,
        range: &TimeRange,
        site: &Option<String>,
        zone: &str,
    ) -> Result<IdentifiedCounts, WarehouseError> {
        let (_, to_s) = range.seconds();
        let per_day = |sql: &str| {
            let query = self.client.query(sql).bind(range.from_ms).bind(zone);
            query.bind(range.from_ms).bind(to_s).bind(range.to_ms).bind(optional(site)).bind(optional(site))
        };
        let by_site = per_day(queries::IDENTIFIED_PERSONS).fetch_all().await;
        let by_site = by_site.map_err(query_error("counting identified persons"))?;
        let by_day = per_day(queries::IDENTIFIED_DAYS).fetch_all().await;
        let by_day = by_day.map_err(query_error("counting identified persons per day"))?;
        let total = self.client.query(queries::IDENTIFIED_TOTAL).bind(range.from_ms).bind(to_s).bind(range.to_ms);
        let total = total.bind(optional(site)).bind(optional(site)).fetch_one::<IdentifiedTotal>().await;
        let total = total.map_err(query_error("counting identified persons in the range"))?;
        Ok(IdentifiedCounts { by_site, by_day, total })
    }

    /// The dwell of the tracks of `scope`.
    pub async fn dwell(&self, scope: &Scope) -> Result<DwellRow, WarehouseError> {
        let query = self.tracks_in(queries::DWELL, &scope.range);
        bind_site_stream_kind(query, &scope.site, &scope.stream, scope.kind)
            .fetch_one()
            .await
            .map_err(query_error("measuring dwell"))
    }

    /// Arrivals of `scope` by day of the week and hour in `zone`. Where each UTC hour is one local
    /// hour, the range's whole hours come from the hourly counts and only its partial first and last
    /// hours from grouping the tracks (`heatmap.sql` over those); elsewhere (zones such as India's,
    /// UTC+5:30) the whole range is grouped from the tracks.
    pub async fn heatmap(&self, scope: &Scope, zone: &str) -> Result<Vec<HeatmapRow>, WarehouseError> {
        let range = &scope.range;
        if !offsets_are_whole_hours(zone, range) {
            return self.heatmap_of_tracks(scope, range, zone).await;
        }
        let Ok(time_zone) = jiff::tz::TimeZone::get(zone) else {
            return self.heatmap_of_tracks(scope, range, zone).await;
        };
        let (hours_from_s, hours_to_s) = whole_hours(range);
        let mut cells: HashMap<(u8, u8), u64> = HashMap::new();
        for count in self.hours.between(&self.client, hours_from_s, hours_to_s).await?.iter() {
            if in_scope(count, &scope.site, &scope.stream, scope.kind)
                && let Ok(at) = jiff::Timestamp::from_second(i64::from(count.hour_s))
            {
                let local = at.to_zoned(time_zone.clone());
                let cell = (local.weekday().to_monday_one_offset() as u8, local.hour() as u8);
                *cells.entry(cell).or_default() += count.tracks;
            }
        }
        let hours_from_ms = i64::from(hours_from_s) * 1000;
        let hours_to_ms = (i64::from(hours_to_s) * 1000).max(hours_from_ms);
        let edges = [
            TimeRange { from_ms: range.from_ms, to_ms: hours_from_ms.min(range.to_ms) },
            TimeRange { from_ms: hours_to_ms.max(range.from_ms), to_ms: range.to_ms },
        ];
        for edge in edges.iter().filter(|edge| edge.from_ms < edge.to_ms) {
            for row in self.heatmap_of_tracks(scope, edge, zone).await? {
                *cells.entry((row.day_of_week, row.hour)).or_default() += row.tracks;
            }
        }
        let mut rows: Vec<HeatmapRow> = cells
            .into_iter()
            .filter(|(_, tracks)| *tracks > 0)
            .map(|((day_of_week, hour), tracks)| HeatmapRow { day_of_week, hour, tracks })
            .collect();
        rows.sort_by_key(|row| (row.day_of_week, row.hour));
        Ok(rows)
    }

    /// Arrivals of `scope` in `range` by grouping its tracks (`heatmap.sql`).
    async fn heatmap_of_tracks(
        &self,
        scope: &Scope,
        range: &TimeRange,
        zone: &str,
    ) -> Result<Vec<HeatmapRow>, WarehouseError> {
        let (from_s, to_s) = range.seconds();
        let query = self.client.query(queries::HEATMAP).bind(zone).bind(from_s).bind(to_s);
        let query = query.bind(range.from_ms).bind(range.to_ms);
        bind_site_stream_kind(query, &scope.site, &scope.stream, scope.kind)
            .fetch_all()
            .await
            .map_err(query_error("counting arrivals"))
    }

    /// Each identified person's visits per site, most visits first, at most `request.limit`.
    pub async fn visits(&self, request: &VisitsRequest) -> Result<Vec<VisitsRow>, WarehouseError> {
        let range = &request.range;
        let query = self.tracks_in(queries::PERSON_TRACKS, range).bind(optional(&request.site));
        let query = query.bind(optional(&request.site)).bind(optional(&request.list)).bind(optional(&request.list));
        let rows: Vec<PersonTracksRow> = query
            .bind(optional(&request.person))
            .bind(optional(&request.person))
            .fetch_all()
            .await
            .map_err(query_error("reading persons' tracks"))?;
        let mut visits: Vec<VisitsRow> = rows
            .into_iter()
            .map(|row| VisitsRow {
                visits: count_visits(&row.firsts_ms, &row.lasts_ms, request.gap_ms),
                first_ms: row.firsts_ms.first().copied().unwrap_or_default(),
                last_ms: row.lasts_ms.iter().copied().max().unwrap_or_default(),
                list_id: row.list_id,
                person_id: row.person_id,
                site: row.site,
                external_id: row.external_id,
                display_name: row.display_name,
                tracks: row.tracks,
                dwell_ms: row.dwell_ms,
            })
            .collect();
        visits.sort_by(|a, b| b.visits.cmp(&a.visits).then(b.tracks.cmp(&a.tracks)));
        visits.truncate(request.limit as usize);
        Ok(visits)
    }

    /// The face descriptor of event `id` and the model that made it, if the event has one.
    pub async fn face_of_event(&self, id: Uuid) -> Result<Option<Face>, WarehouseError> {
        self.client
            .query(queries::FACE_OF_EVENT)
            .bind(id.to_string())
            .fetch_optional()
            .await
            .map_err(query_error("reading an event's face"))
    }

    /// The tracks whose faces are most similar to `face` within `request`'s range and scope, best
    /// first: the nearest faces by sign sketch (`face_candidates.sql`), their exact similarities
    /// (`face_similarities.sql`), then grouped by track here.
    pub async fn search_faces(
        &self,
        face: &Face,
        request: &FaceSearchRequest,
    ) -> Result<Vec<FaceSearchRow>, WarehouseError> {
        let [h0, h1, h2] = face_search::sketch(&face.descriptor);
        let (from_s, to_s) = request.range.seconds();
        let query = self.client.query(queries::FACE_CANDIDATES).bind(h0).bind(h1).bind(h2).bind(from_s).bind(to_s);
        let query = query.bind(request.range.from_ms).bind(request.range.to_ms);
        let query = query.bind(optional(&request.site)).bind(optional(&request.site));
        let query = query.bind(optional(&request.stream)).bind(optional(&request.stream));
        let candidates: Vec<CandidateRow> = query
            .bind(&face.descriptor_model)
            .bind(&face.descriptor_model_version)
            .bind(face_search::max_distance(request.threshold))
            .bind(face_search::candidates(request.limit))
            .fetch_all()
            .await
            .map_err(query_error("finding candidate faces"))?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        let similarities: Vec<SimilarityRow> = self
            .client
            .query(queries::FACE_SIMILARITIES)
            .bind(&face.descriptor)
            .bind(ids)
            .fetch_all()
            .await
            .map_err(query_error("comparing faces"))?;
        Ok(rank_tracks(candidates, similarities, request.threshold, request.limit))
    }

    /// The best-shot JPEG of event `id`, if stored: read from the object store (or from the
    /// warehouse, for a row landed before it and not yet moved out), in clear or sealed and opened
    /// with its track's image key from `keys` (`None` when that key is destroyed, erased or expired,
    /// or the object is gone: erased or expired too).
    pub async fn best_shot(&self, id: Uuid, keys: &KeyRing) -> Result<Option<Vec<u8>>, WarehouseError> {
        let row: Option<BestShotRow> = self
            .client
            .query(queries::BEST_SHOT)
            .bind(id.to_string())
            .fetch_optional()
            .await
            .map_err(query_error("reading a best shot"))?;
        let Some(row) = row else { return Ok(None) };
        let (bytes, sealed) = if row.object_key.is_empty() {
            let sealed = !row.sealed.is_empty();
            (if sealed { row.sealed } else { row.jpeg }, sealed)
        } else {
            let Some(bytes) = self.objects.get(&row.object_key).await? else { return Ok(None) };
            (bytes, row.object_sealed != 0)
        };
        if !sealed {
            return Ok(Some(bytes));
        }
        Ok(open_stored_best_shot(keys, &bytes, &row.stream_id, &row.track_id).await?)
    }

    /// Tracks per bucket and kind. Buckets of whole hours (hour, day) take the range's whole hours
    /// from the hourly counts; the rest is grouped from the tracks (`timeline.sql`).
    pub async fn timeline(&self, request: &TimelineRequest) -> Result<Vec<TimelineRow>, WarehouseError> {
        let range = &request.range;
        let (hours_from_s, hours_to_s) = if request.bucket_ms % HOUR_MS == 0 { whole_hours(range) } else { (0, 0) };
        let mut buckets: HashMap<(i64, String), (u64, u64)> = HashMap::new();
        for count in self.hours.between(&self.client, hours_from_s, hours_to_s).await?.iter() {
            if in_scope(count, &request.site, &request.stream, None) {
                let bucket_ms = (i64::from(count.hour_s) * 1000).div_euclid(request.bucket_ms) * request.bucket_ms;
                let bucket = buckets.entry((bucket_ms, count.kind.clone())).or_default();
                bucket.0 += count.tracks;
                bucket.1 += count.matched;
            }
        }
        let query = self.client.query(queries::TIMELINE).bind(range.from_ms).bind(request.bucket_ms);
        let query = self.present_tracks(query.bind(request.bucket_ms), range, (hours_from_s, hours_to_s));
        let edges: Vec<TimelineRow> = query
            .bind(optional(&request.site))
            .bind(optional(&request.site))
            .bind(optional(&request.stream))
            .bind(optional(&request.stream))
            .fetch_all()
            .await
            .map_err(query_error("reading the timeline"))?;
        for row in edges {
            let bucket = buckets.entry((row.bucket_ms, row.kind)).or_default();
            bucket.0 += row.tracks;
            bucket.1 += row.matched;
        }
        let mut rows: Vec<TimelineRow> = buckets
            .into_iter()
            .filter(|(_, (tracks, _))| *tracks > 0)
            .map(|((bucket_ms, kind), (tracks, matched))| TimelineRow { bucket_ms, kind, tracks, matched })
            .collect();
        rows.sort_by(|a, b| (a.bucket_ms, &a.kind).cmp(&(b.bucket_ms, &b.kind)));
        Ok(rows)
    }

    /// `query` bound for the tracks present in `range` but not first seen in the whole hours
    /// `[first, end)` (seconds; `timeline.sql`, `stream_edges.sql`): the range's start in ms, its end
    /// in seconds and ms; the hour of its start (three times) and its start in ms (the bound on how
    /// early a track still present at the start began); the whole hours.
    fn present_tracks(&self, query: Query, range: &TimeRange, (first, end): (u32, u32)) -> Query {
        let (_, to_s) = range.seconds();
        let start_hour_s = (range.from_ms.div_euclid(HOUR_MS) * 3600).clamp(0, i64::from(u32::MAX)) as u32;
        query
            .bind(range.from_ms)
            .bind(to_s)
            .bind(range.to_ms)
            .bind(start_hour_s)
            .bind(start_hour_s)
            .bind(start_hour_s)
            .bind(range.from_ms)
            .bind(first)
            .bind(end)
    }

    /// What each stream saw: the range's whole hours from the hourly counts, the rest grouped from
    /// the tracks (`stream_edges.sql`).
    pub async fn streams(&self, range: &TimeRange) -> Result<Vec<StreamSummaryRow>, WarehouseError> {
        let (hours_from_s, hours_to_s) = whole_hours(range);
        let hours = self.hours.between(&self.client, hours_from_s, hours_to_s).await?;
        let query = self.client.query(queries::STREAM_EDGES);
        let query = self.present_tracks(query, range, (hours_from_s, hours_to_s));
        let edges: Vec<HourCount> = query.fetch_all().await.map_err(query_error("reading stream summaries"))?;
        let mut streams: HashMap<(&str, &str), StreamSummaryRow> = HashMap::new();
        for count in hours.iter().chain(&edges).filter(|count| count.tracks > 0) {
            let stream = streams.entry((&count.site, &count.stream_id)).or_insert_with(|| StreamSummaryRow {
                site: count.site.clone(),
                stream_id: count.stream_id.clone(),
                faces: 0,
                bodies: 0,
                matched: 0,
                last_capture_ms: i64::MIN,
            });
            match count.kind.as_str() {
                "face" => stream.faces += count.tracks,
                _ => stream.bodies += count.tracks,
            }
            stream.matched += count.matched;
            stream.last_capture_ms = stream.last_capture_ms.max(count.last_seen_ms);
        }
        let mut rows: Vec<StreamSummaryRow> = streams.into_values().collect();
        rows.sort_by(|a, b| (&a.site, &a.stream_id).cmp(&(&b.site, &b.stream_id)));
        Ok(rows)
    }

    /// Computes the hourly counts of the last [`WARM_DAYS`] days (ending at `now_ms`) that the
    /// cache does not hold, so that analysts' long ranges find them ready.
    pub async fn warm_hour_counts(&self, now_ms: i64) -> Result<(), WarehouseError> {
        let end_s = (now_ms.div_euclid(HOUR_MS) * 3600).clamp(0, i64::from(u32::MAX)) as u32;
        let first_s = end_s.saturating_sub(WARM_DAYS * 86_400);
        self.hours.between(&self.client, first_s, end_s).await.map(|_| ())
    }

    /// The most sighted watchlist persons.
    pub async fn persons(&self, request: &PersonsRequest) -> Result<Vec<PersonSightingsRow>, WarehouseError> {
        self.tracks_in(queries::TOP_MATCHED_PERSONS, &request.range)
            .bind(optional(&request.list))
            .bind(optional(&request.list))
            .bind(optional(&request.person))
            .bind(optional(&request.person))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_hour_zones_are_told_from_the_others() {
        let year = TimeRange { from_ms: 1_767_225_600_000, to_ms: 1_798_761_600_000 }; // 2026
        assert!(offsets_are_whole_hours("UTC", &year));
        assert!(offsets_are_whole_hours("Europe/Berlin", &year), "summer time moves by whole hours");
        assert!(offsets_are_whole_hours("Asia/Tokyo", &year));
        assert!(!offsets_are_whole_hours("Asia/Kolkata", &year));
        assert!(!offsets_are_whole_hours("Australia/Lord_Howe", &year), "half an hour of summer time");
        assert!(!offsets_are_whole_hours("Mars/Olympus", &year));
    }

    #[test]
    fn whole_hours_lie_inside_the_range() {
        let hour = |h: i64| h * HOUR_MS;
        assert_eq!(whole_hours(&TimeRange { from_ms: hour(10), to_ms: hour(13) }), (36_000, 46_800));
        assert_eq!(whole_hours(&TimeRange { from_ms: hour(10) + 1, to_ms: hour(13) - 1 }), (39_600, 43_200));
        // No whole hour: an empty span, so everything is read from the tracks.
        let (first, end) = whole_hours(&TimeRange { from_ms: hour(10) + 5, to_ms: hour(11) - 5 });
        assert!(first >= end);
    }

    #[test]
    fn visits_split_where_a_person_was_away_longer_than_the_gap() {
        let minute = 60_000;
        assert_eq!(count_visits(&[], &[], 30 * minute), 0);
        // 0-10, 20-25 (10 min away: same visit), 70-80 (45 min away: a new one).
        assert_eq!(
            count_visits(&[0, 20 * minute, 70 * minute], &[10 * minute, 25 * minute, 80 * minute], 30 * minute),
            2
        );
        // A long track (0-100) covers a short one (10-20): the next (60) is within it, one visit.
        assert_eq!(
            count_visits(&[0, 10 * minute, 60 * minute], &[100 * minute, 20 * minute, 70 * minute], 30 * minute),
            1
        );
    }

    #[test]
    fn face_search_groups_candidates_by_track_above_the_threshold() {
        let candidate = |id: &str, track: &str, at: i64| CandidateRow {
            id: id.into(),
            stream_id: "cam-1".into(),
            track_id: track.into(),
            site: "hq".into(),
            capture_ms: at,
            has_best_shot: u8::from(id == "b"),
        };
        let similarity = |id: &str, similarity: f64| SimilarityRow { id: id.into(), similarity };
        let candidates =
            vec![candidate("a", "t1", 30), candidate("b", "t1", 10), candidate("c", "t2", 20), candidate("d", "t3", 5)];
        let similarities = vec![similarity("a", 0.6), similarity("b", 0.8), similarity("c", 0.7), similarity("d", 0.4)];
        let ranked = rank_tracks(candidates, similarities, 0.5, 10);
        let summary: Vec<(&str, f64, &str, i64, i64, u64, u8)> = ranked
            .iter()
            .map(|t| {
                (
                    t.track_id.as_str(),
                    t.similarity,
                    t.event_id.as_str(),
                    t.first_ms,
                    t.last_ms,
                    t.sightings,
                    t.has_best_shot,
                )
            })
            .collect();
        assert_eq!(summary, vec![("t1", 0.8, "b", 10, 30, 2, 1), ("t2", 0.7, "c", 20, 20, 1, 0)]);
        let candidates = vec![candidate("a", "t1", 30), candidate("c", "t2", 20)];
        let ranked = rank_tracks(candidates, vec![similarity("a", 0.6), similarity("c", 0.7)], 0.5, 1);
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].track_id, "t2");
    }
}
