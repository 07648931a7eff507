//! The query API's request parameters, validated: a bad one is an [`InvalidParam`] naming it, which the
//! API answers with a 400.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Time range used when a request names none: the last 24 hours.
pub const DEFAULT_RANGE_MS: i64 = 24 * 3_600_000;
/// Longest time range one request may scan.
pub const MAX_RANGE_MS: i64 = 366 * 24 * 3_600_000;
/// Events per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: u32 = 100;
/// Most events per page.
pub const MAX_PAGE: u32 = 1_000;
/// Most events one CSV download may hold: it is streamed, so the bound is the time a download takes
/// (at about 50,000 rows a second, under two minutes), not memory. A selection with more is a 400.
pub const MAX_EXPORT: u32 = 5_000_000;
/// Most events a mailed CSV holds (the scheduler's attachments are built in memory).
pub const MAX_MAILED_EVENTS: u32 = 100_000;
/// Events shown in a PDF report unless `limit` says otherwise.
pub const DEFAULT_REPORT_EVENTS: u32 = 50;
/// Most events a PDF report shows (each with its best shot).
pub const MAX_REPORT_EVENTS: u32 = 500;
/// Most buckets a timeline may have.
pub const MAX_BUCKETS: i64 = 2_000;

/// A parameter that is not valid, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct InvalidParam {
    /// The parameter.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> InvalidParam {
    InvalidParam { name, reason: reason.into() }
}

/// A half-open time range `[from_ms, to_ms)`, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TimeRange {
    /// Start, inclusive.
    pub from_ms: i64,
    /// End, exclusive.
    pub to_ms: i64,
}

impl TimeRange {
    /// The range from the `from` and `to` parameters (each epoch ms or RFC 3339); `to` defaults to
    /// `now_ms` and `from` to [`DEFAULT_RANGE_MS`] before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now_ms: i64) -> Result<Self, InvalidParam> {
        let to_ms = to.map(|v| parse_time("to", v)).transpose()?.unwrap_or(now_ms);
        let from_ms =
            from.map(|v| parse_time("from", v)).transpose()?.unwrap_or(to_ms.saturating_sub(DEFAULT_RANGE_MS));
        if from_ms >= to_ms {
            return Err(invalid("from", "must be before to"));
        }
        if to_ms - from_ms > MAX_RANGE_MS {
            return Err(invalid("from", format!("the range may span at most {} days", MAX_RANGE_MS / 86_400_000)));
        }
        Ok(Self { from_ms: from_ms.max(0), to_ms })
    }

    /// The range in whole seconds covering it, `[from, to)`, for the `DateTime` columns (partition
    /// pruning); rows are then filtered on the exact milliseconds.
    pub fn seconds(&self) -> (u32, u32) {
        let clamp = |s: i64| s.clamp(0, i64::from(u32::MAX)) as u32;
        (clamp(self.from_ms.div_euclid(1000)), clamp(self.to_ms.div_euclid(1000) + 1))
    }
}

/// The latest time a parameter may name: the end of year 9999, ms since the epoch. Bounding times
/// to `0..=MAX_TIME_MS` keeps every range computation far from overflowing.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A time parameter: ms since the Unix epoch, or an RFC 3339 timestamp (`2026-11-22T10:00:00Z`),
/// from 1970 to the end of year 9999.
pub fn parse_time(name: &'static str, value: &str) -> Result<i64, InvalidParam> {
    let ms = match value.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => {
            let at = OffsetDateTime::parse(value, &Rfc3339)
                .map_err(|e| invalid(name, format!("{value:?} is neither ms since the epoch nor RFC 3339 ({e})")))?;
            i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MIN)
        }
    };
    if !(0..=MAX_TIME_MS).contains(&ms) {
        return Err(invalid(name, format!("{value:?} is outside 1970 to 9999")));
    }
    Ok(ms)
}

/// `ms` since the epoch as RFC 3339 in UTC (the exporter's format, so reports and the API agree).
pub use sightline_exporter::format_time;
pub use sightline_schemas::v1::ObjectKind;

/// An object kind named in a request (`face` or `body`).
fn parse_kind(value: &str) -> Result<ObjectKind, InvalidParam> {
    ObjectKind::from_label(value).ok_or_else(|| invalid("kind", format!("{value:?} is not face or body")))
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this site.
    pub site: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this kind.
    pub kind: Option<ObjectKind>,
    /// Only events matched to this watchlist.
    pub list: Option<String>,
    /// Only events matched to this person.
    pub person: Option<String>,
    /// Only events with a watchlist match.
    pub matched_only: bool,
    /// Every report of a track, not one row per track (its latest report).
    pub every_report: bool,
}

impl EventFilter {
    /// Whether only events with a watchlist match are selected (a list, person or matched filter).
    pub fn needs_match(&self) -> bool {
        self.list.is_some() || self.person.is_some() || self.matched_only
    }
}

/// Where a page starts: after the event at (`capture_ms`, `event_id`) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Capture time of the last event of the previous page.
    pub capture_ms: i64,
    /// Its id.
    pub event_id: Uuid,
}

impl Cursor {
    /// The opaque form handed to clients as `next_cursor`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.capture_ms, self.event_id)
    }

    fn decode(value: &str) -> Result<Self, InvalidParam> {
        let bad = || invalid("cursor", "not a cursor this API returned");
        let (ms, id) = value.split_once('_').ok_or_else(bad)?;
        Ok(Self { capture_ms: ms.parse().map_err(|_| bad())?, event_id: id.parse().map_err(|_| bad())? })
    }
}

/// The query string of `GET /v1/events`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// Only this stream (its id).
    stream: Option<String>,
    /// `face` or `body`.
    kind: Option<String>,
    /// Only matches on this watchlist (its id).
    list: Option<String>,
    /// Only this watchlist person (their id).
    person: Option<String>,
    /// `true`: only events matched on a watchlist.
    matched: Option<String>,
    /// `true`: every report of each track; default only each track's latest.
    every_report: Option<String>,
    /// The most items to answer.
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The summary PDF's time zone (IANA; default UTC); only the PDF takes it.
    tz: Option<String>,
}

/// A validated `GET /v1/events` request.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsRequest {
    /// Capture-time range.
    pub range: TimeRange,
    /// Filters.
    pub filter: EventFilter,
    /// Page size.
    pub limit: u32,
    /// Where the page starts (`None`: the newest event).
    pub cursor: Option<Cursor>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_bool(name: &'static str, value: Option<&str>) -> Result<bool, InvalidParam> {
    match value {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(invalid(name, format!("{other:?} is not true or false"))),
    }
}

/// A positive count parameter, at most `max`.
fn parse_count(name: &'static str, value: Option<&str>, default: u32, max: u32) -> Result<u32, InvalidParam> {
    let Some(value) = value else { return Ok(default) };
    match value.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(name, format!("{value:?} is not a whole number from 1 to {max}"))),
    }
}

impl EventsQuery {
    /// Validates the request (`now_ms` is the default end of the range).
    pub fn validate(self, now_ms: i64) -> Result<EventsRequest, InvalidParam> {
        self.validate_limited(now_ms, DEFAULT_PAGE, MAX_PAGE)
    }

    /// Validates the request with `limit` defaulting to `default_limit` and at most `max_limit`
    /// (exports take more events than a page).
    pub fn validate_limited(
        self,
        now_ms: i64,
        default_limit: u32,
        max_limit: u32,
    ) -> Result<EventsRequest, InvalidParam> {
        if self.tz.is_some() {
            return Err(invalid("tz", "only the summary PDF takes a time zone; times here are UTC"));
        }
        Ok(EventsRequest {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?,
            filter: EventFilter {
                site: non_empty(self.site),
                stream: non_empty(self.stream),
                kind: non_empty(self.kind).as_deref().map(parse_kind).transpose()?,
                list: non_empty(self.list),
                person: non_empty(self.person),
                matched_only: parse_bool("matched", self.matched.as_deref())?,
                every_report: parse_bool("every_report", self.every_report.as_deref())?,
            },
            limit: parse_count("limit", self.limit.as_deref(), default_limit, max_limit)?,
            cursor: non_empty(self.cursor).as_deref().map(Cursor::decode).transpose()?,
        })
    }
}

impl EventsQuery {
    /// Validates the summary PDF's request: the selection with its `limit` (default
    /// `default_limit`, at most `max_limit`), and `tz`, the IANA time zone its times are shown in
    /// (default `UTC`; the caller checks that it exists).
    pub fn validate_report(
        mut self,
        now_ms: i64,
        default_limit: u32,
        max_limit: u32,
    ) -> Result<(EventsRequest, String), InvalidParam> {
        let zone = non_empty(self.tz.take()).unwrap_or_else(|| "UTC".to_owned());
        Ok((self.validate_limited(now_ms, default_limit, max_limit)?, zone))
    }
}

/// The bucket a timeline over `span_ms` uses unless told: the finest of a minute, an hour and a day
/// that gives at most 200 buckets.
pub fn default_bucket_ms(span_ms: i64) -> i64 {
    [60_000, 3_600_000, 86_400_000].into_iter().find(|b| span_ms / b <= 200).unwrap_or(86_400_000)
}

/// A validated CSV export: the selection, and whether the caller set its `limit` (then the newest
/// `limit` events are what was asked for; otherwise every selected event, at most [`MAX_EXPORT`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// The selection; its `limit` is the caller's or [`MAX_EXPORT`].
    pub events: EventsRequest,
    /// Whether `limit` was given.
    pub limited: bool,
}

impl EventsQuery {
    /// Validates a CSV export request (the parameters of `GET /v1/events`; `limit` optional, at
    /// most [`MAX_EXPORT`]; no `cursor`).
    pub fn validate_export(self, now_ms: i64) -> Result<ExportRequest, InvalidParam> {
        if self.cursor.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            return Err(invalid("cursor", "an export holds every selected event; it takes no cursor"));
        }
        let limited = self.limit.is_some();
        Ok(ExportRequest { events: self.validate_limited(now_ms, MAX_EXPORT, MAX_EXPORT)?, limited })
    }
}

/// The query string of `GET /v1/stats/timeline`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// Only this stream (its id).
    stream: Option<String>,
    /// `minute`, `hour` or `day`; default chosen by the range.
    bucket: Option<String>,
}

/// A validated timeline request.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRequest {
    /// Capture-time range.
    pub range: TimeRange,
    /// Only this site.
    pub site: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Bucket width, ms.
    pub bucket_ms: i64,
}

impl TimelineQuery {
    /// Validates the request. `bucket` is `minute`, `hour` or `day`; without it, the finest of those
    /// that gives at most 200 buckets.
    pub fn validate(self, now_ms: i64) -> Result<TimelineRequest, InvalidParam> {
        let range = TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?;
        let span = range.to_ms - range.from_ms;
        let bucket_ms = match non_empty(self.bucket).as_deref() {
            None => default_bucket_ms(span),
            Some("minute") => 60_000,
            Some("hour") => 3_600_000,
            Some("day") => 86_400_000,
            Some(other) => return Err(invalid("bucket", format!("{other:?} is not minute, hour or day"))),
        };
        if span / bucket_ms > MAX_BUCKETS {
            return Err(invalid("bucket", format!("more than {MAX_BUCKETS} buckets; use a wider bucket")));
        }
        Ok(TimelineRequest { range, site: non_empty(self.site), stream: non_empty(self.stream), bucket_ms })
    }
}

/// The query string of `GET /v1/stats/streams`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
}

impl RangeQuery {
    /// Validates the range.
    pub fn validate(self, now_ms: i64) -> Result<TimeRange, InvalidParam> {
        TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)
    }
}

/// The query string of `GET /v1/stats/persons`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PersonsQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only matches on this watchlist (its id).
    list: Option<String>,
    /// Only this watchlist person (their id): their sightings in the range.
    person: Option<String>,
    /// The most items to answer.
    limit: Option<String>,
}

/// A validated top-persons request.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonsRequest {
    /// Capture-time range.
    pub range: TimeRange,
    /// Only this watchlist.
    pub list: Option<String>,
    /// Only this person.
    pub person: Option<String>,
    /// How many persons.
    pub limit: u32,
}

impl PersonsQuery {
    /// Validates the request.
    pub fn validate(self, now_ms: i64) -> Result<PersonsRequest, InvalidParam> {
        Ok(PersonsRequest {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?,
            list: non_empty(self.list),
            person: non_empty(self.person),
            limit: parse_count("limit", self.limit.as_deref(), 20, 1_000)?,
        })
    }
}

/// A time zone name as the tz database spells it (`Europe/Berlin`, `UTC`); whether ClickHouse knows
/// it is checked when the query runs. Default `UTC`.
fn parse_time_zone(value: Option<String>) -> Result<String, InvalidParam> {
    let Some(zone) = non_empty(value) else { return Ok("UTC".to_owned()) };
    let valid = zone.len() <= 64 && zone.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if !valid {
        return Err(invalid("tz", format!("{zone:?} is not a time zone name such as Europe/Berlin")));
    }
    Ok(zone)
}

/// Which tracks a breakdown counts: the range and optional site, stream and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    /// Capture-time range.
    pub range: TimeRange,
    /// Only this site.
    pub site: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this kind.
    pub kind: Option<ObjectKind>,
}

/// The query string of `GET /v1/stats/dwell` and `GET /v1/stats/heatmap` (which also takes `tz`), as
/// sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BreakdownQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// Only this stream (its id).
    stream: Option<String>,
    /// `face` or `body`.
    kind: Option<String>,
    /// IANA time zone the days, hours or times are in; default UTC.
    tz: Option<String>,
}

impl BreakdownQuery {
    /// Validates the request: its scope and time zone (`UTC` unless `tz` names one).
    pub fn validate(self, now_ms: i64) -> Result<(Scope, String), InvalidParam> {
        let scope = Scope {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?,
            site: non_empty(self.site),
            stream: non_empty(self.stream),
            kind: non_empty(self.kind).map(|k| parse_kind(&k)).transpose()?,
        };
        Ok((scope, parse_time_zone(self.tz)?))
    }
}

/// The query string of `GET /v1/stats/identified`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IdentifiedQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// IANA time zone the days, hours or times are in; default UTC.
    tz: Option<String>,
}

impl IdentifiedQuery {
    /// Validates the request: range, site and time zone (days start at its midnight).
    pub fn validate(self, now_ms: i64) -> Result<(TimeRange, Option<String>, String), InvalidParam> {
        let range = TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?;
        Ok((range, non_empty(self.site), parse_time_zone(self.tz)?))
    }
}

/// Two sightings of a person at a site closer than this are one visit unless `gap_minutes` says
/// otherwise.
pub const DEFAULT_VISIT_GAP_MINUTES: u32 = 30;

/// The query string of `GET /v1/stats/visits`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VisitsQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// Only matches on this watchlist (its id).
    list: Option<String>,
    /// Only this watchlist person (their id).
    person: Option<String>,
    /// Sightings of a person at a site closer than this are one visit; default 30.
    gap_minutes: Option<String>,
    /// The most items to answer.
    limit: Option<String>,
}

/// A validated visits request.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitsRequest {
    /// Capture-time range.
    pub range: TimeRange,
    /// Only this site.
    pub site: Option<String>,
    /// Only this watchlist.
    pub list: Option<String>,
    /// Only this person.
    pub person: Option<String>,
    /// Sightings closer than this (from the end of one to the start of the next) are one visit, ms.
    pub gap_ms: i64,
    /// Most (person, site) rows.
    pub limit: u32,
}

impl VisitsQuery {
    /// Validates the request.
    pub fn validate(self, now_ms: i64) -> Result<VisitsRequest, InvalidParam> {
        let gap = parse_count("gap_minutes", self.gap_minutes.as_deref(), DEFAULT_VISIT_GAP_MINUTES, 24 * 60)?;
        Ok(VisitsRequest {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?,
            site: non_empty(self.site),
            list: non_empty(self.list),
            person: non_empty(self.person),
            gap_ms: i64::from(gap) * 60_000,
            limit: parse_count("limit", self.limit.as_deref(), 100, 10_000)?,
        })
    }
}

/// Similarity a face search keeps unless `threshold` says otherwise: the watchlists' default. Photos
/// of one person measure 0.77-0.79 with this model, different people 0.06 on average, at most 0.23.
pub const DEFAULT_SEARCH_THRESHOLD: f32 = 0.5;
/// Lowest threshold a face search accepts: below it the sketch pre-filter lets through a large part
/// of all faces (`face_search::max_distance`) and the answer is mostly strangers.
pub const MIN_SEARCH_THRESHOLD: f32 = 0.3;
/// Tracks a face search returns unless `limit` says otherwise.
pub const DEFAULT_SEARCH_TRACKS: u32 = 100;
/// Most tracks a face search returns.
pub const MAX_SEARCH_TRACKS: u32 = 1_000;

/// The query string of `POST /v1/search/faces`, as sent (the photo is the body, or `event` names an
/// event whose face to look for).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FaceSearchQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// Only this site.
    site: Option<String>,
    /// Only this stream (its id).
    stream: Option<String>,
    /// Lowest similarity a track is shown with, 0 to 1.
    threshold: Option<String>,
    /// The most items to answer.
    limit: Option<String>,
    /// Search for the face of this event (its id) instead of a photo; no body then.
    event: Option<String>,
    /// In a photo of several people, the face to search for: its index among the faces
    /// `POST /v1/search/faces/examine` finds (from 0).
    face: Option<String>,
}

/// A validated face search (without its face).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceSearchRequest {
    /// Capture-time range.
    pub range: TimeRange,
    /// Only this site.
    pub site: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Lowest similarity returned.
    pub threshold: f32,
    /// Most tracks.
    pub limit: u32,
    /// Search for the face of this event instead of a photo.
    pub event: Option<Uuid>,
    /// In a photo of several people, the face searched for (its index among the faces found).
    pub face: Option<usize>,
}

impl FaceSearchQuery {
    /// Validates the request.
    pub fn validate(self, now_ms: i64) -> Result<FaceSearchRequest, InvalidParam> {
        let threshold = match self.threshold.as_deref() {
            None => DEFAULT_SEARCH_THRESHOLD,
            Some(value) => match value.parse::<f32>() {
                Ok(t) if (MIN_SEARCH_THRESHOLD..=1.0).contains(&t) => t,
                _ => {
                    return Err(invalid(
                        "threshold",
                        format!("{value:?} is not a similarity from {MIN_SEARCH_THRESHOLD} to 1"),
                    ));
                }
            },
        };
        let event = non_empty(self.event)
            .map(|id| id.parse::<Uuid>().map_err(|_| invalid("event", format!("{id:?} is not an event id (a UUID)"))))
            .transpose()?;
        let face = non_empty(self.face)
            .map(|n| n.parse::<usize>().map_err(|_| invalid("face", format!("{n:?} is not a face's number (0, 1, …)"))))
            .transpose()?;
        Ok(FaceSearchRequest {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref(), now_ms)?,
            site: non_empty(self.site),
            stream: non_empty(self.stream),
            threshold,
            limit: parse_count("limit", self.limit.as_deref(), DEFAULT_SEARCH_TRACKS, MAX_SEARCH_TRACKS)?,
            event,
            face,
        })
    }
}

/// The query string of `GET /v1/audit/face-searches`, as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    to: Option<String>,
    /// The most items to answer.
    limit: Option<String>,
}

/// The query of `GET /v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditLogQuery {
    /// Start of the range, inclusive: ms since the epoch or RFC 3339; default 24 hours before `to`.
    pub from: Option<String>,
    /// End of the range, exclusive: ms since the epoch or RFC 3339; default now.
    pub to: Option<String>,
    /// Only this action, or those under it (`export` is `export.csv` and `export.pdf`).
    pub action: Option<String>,
    /// Only what this user or token did (its name).
    pub who: Option<String>,
    /// The most items to answer.
    pub limit: Option<String>,
}

/// An audit listing's range (default the last 24 hours) and most records (default 100, at most
/// 1,000).
fn audit_range(
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<&str>,
    now_ms: i64,
) -> Result<(TimeRange, u32), InvalidParam> {
    Ok((TimeRange::parse(from, to, now_ms)?, parse_count("limit", limit, 100, 1_000)?))
}

impl AuditLogQuery {
    /// The range (default the last 24 hours) and the most records (default 100, at most 1,000).
    pub fn validate(&self, now_ms: i64) -> Result<(TimeRange, u32), InvalidParam> {
        audit_range(self.from.as_deref(), self.to.as_deref(), self.limit.as_deref(), now_ms)
    }
}

impl AuditQuery {
    /// Validates the request: the range (default the last 24 hours) and the most records (default
    /// 100, at most 1,000).
    pub fn validate(self, now_ms: i64) -> Result<(TimeRange, u32), InvalidParam> {
        audit_range(self.from.as_deref(), self.to.as_deref(), self.limit.as_deref(), now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_168_800_000; // 2026-11-20T10:00:00Z

    fn events(query: &str) -> Result<EventsRequest, InvalidParam> {
        let query: EventsQuery = serde_urlencoded_from(query);
        query.validate(NOW)
    }

    fn serde_urlencoded_from<T: serde::de::DeserializeOwned + Default>(query: &str) -> T {
        axum::extract::Query::<T>::try_from_uri(&format!("/x?{query}").parse().expect("uri")).expect("query").0
    }

    #[test]
    fn times_are_epoch_ms_or_rfc3339() {
        assert_eq!(parse_time("from", "1795168800000"), Ok(NOW));
        assert_eq!(parse_time("from", "2026-11-20T10:00:00Z"), Ok(NOW));
        assert_eq!(parse_time("from", "2026-11-20T11:00:00.250+01:00"), Ok(NOW + 250));
        assert_eq!(parse_time("from", "yesterday").map_err(|e| e.name), Err("from"));
        assert_eq!(format_time(NOW + 250), "2026-11-20T10:00:00.25Z");
    }

    #[test]
    fn ranges_default_to_the_last_day_and_are_bounded() {
        let range = TimeRange::parse(None, None, NOW).expect("default");
        assert_eq!((range.from_ms, range.to_ms), (NOW - DEFAULT_RANGE_MS, NOW));
        assert_eq!(range.seconds(), (1_795_082_400, 1_795_168_801));
        assert!(TimeRange::parse(Some("2026-11-21T00:00:00Z"), Some("2026-11-20T00:00:00Z"), NOW).is_err());
        assert!(TimeRange::parse(Some("0"), Some("1795168800000"), NOW).is_err(), "more than a year");
        // Values that would overflow the range arithmetic are a 400 naming the parameter.
        for (from, to) in
            [(None, Some("-9223372036854775808")), (Some("-9223372036854775808"), Some("9223372036854775807"))]
        {
            let error = TimeRange::parse(from, to, NOW).expect_err("out of range");
            assert!(error.reason.contains("outside 1970 to 9999"), "{error:?}");
        }
        assert!(TimeRange::parse(Some("0001-01-01T00:00:00Z"), None, NOW).is_err());
    }

    #[test]
    fn an_events_request_is_validated_field_by_field() {
        let request = events("site=site-a&kind=face&matched=true&limit=50&from=2026-11-20T00:00:00Z").expect("valid");
        assert_eq!(request.filter.site.as_deref(), Some("site-a"));
        assert_eq!(request.filter.kind, Some(ObjectKind::Face));
        assert!(request.filter.matched_only);
        assert_eq!((request.limit, request.range.to_ms), (50, NOW));
        assert_eq!(events("").expect("defaults").limit, DEFAULT_PAGE);
        assert_eq!(events("kind=car").map_err(|e| e.name), Err("kind"));
        assert_eq!(events("limit=0").map_err(|e| e.name), Err("limit"));
        assert_eq!(events("limit=5000").map_err(|e| e.name), Err("limit"));
        assert_eq!(events("matched=maybe").map_err(|e| e.name), Err("matched"));
        assert_eq!(events("cursor=abc").map_err(|e| e.name), Err("cursor"));
        let cursor = Cursor { capture_ms: NOW, event_id: Uuid::from_u128(7) };
        assert_eq!(events(&format!("cursor={}", cursor.encode())).expect("cursor").cursor, Some(cursor));
    }

    #[test]
    fn an_export_takes_every_event_unless_limited() {
        let export = |query: &str| serde_urlencoded_from::<EventsQuery>(query).validate_export(NOW);
        let all = export("site=site-a").expect("valid");
        assert_eq!((all.events.limit, all.limited), (MAX_EXPORT, false));
        let newest = export("limit=500").expect("valid");
        assert_eq!((newest.events.limit, newest.limited), (500, true));
        assert_eq!(export("cursor=1_00000000-0000-0000-0000-000000000001").map_err(|e| e.name), Err("cursor"));
        assert_eq!(export("limit=5000001").map_err(|e| e.name), Err("limit"));
    }

    #[test]
    fn timeline_buckets_follow_the_range() {
        let timeline = |query: &str| serde_urlencoded_from::<TimelineQuery>(query).validate(NOW);
        assert_eq!(timeline("").expect("a day").bucket_ms, 3_600_000);
        assert_eq!(timeline("from=2026-11-20T09:00:00Z").expect("an hour").bucket_ms, 60_000);
        assert_eq!(timeline("bucket=day").expect("day").bucket_ms, 86_400_000);
        assert_eq!(timeline("bucket=week").map_err(|e| e.name), Err("bucket"));
        assert_eq!(timeline("bucket=minute&from=2026-10-01T00:00:00Z").map_err(|e| e.name), Err("bucket"));
    }

    #[test]
    fn face_searches_default_and_bound_their_threshold_and_size() {
        let search = |q: &str| serde_urlencoded_from::<FaceSearchQuery>(q).validate(NOW);
        let request = search("").expect("defaults");
        assert_eq!((request.threshold, request.limit, request.event), (0.5, 100, None));
        assert_eq!(request.range, TimeRange { from_ms: NOW - DEFAULT_RANGE_MS, to_ms: NOW });
        assert!(search("threshold=0.2").is_err_and(|e| e.name == "threshold" && e.reason.contains("0.3 to 1")));
        assert!(search("threshold=abc").is_err_and(|e| e.name == "threshold"));
        assert!(search("limit=1001").is_err_and(|e| e.name == "limit"));
        assert!(search("event=nope").is_err_and(|e| e.name == "event"));
        let id = "0b8e6d1c-7d1e-4c52-9f0e-2b1c3d4e5f60";
        let request = search(&format!("event={id}&threshold=0.7&site=hq&limit=5")).expect("valid");
        assert_eq!(
            (request.event, request.threshold, request.site.as_deref(), request.limit),
            (id.parse().ok(), 0.7, Some("hq"), 5)
        );
    }

    #[test]
    fn breakdowns_take_a_scope_and_a_time_zone() {
        let (scope, zone) =
            serde_urlencoded_from::<BreakdownQuery>("site=hq&kind=face&tz=Asia/Tokyo").validate(NOW).expect("valid");
        assert_eq!(
            (scope.site.as_deref(), scope.kind, zone.as_str()),
            (Some("hq"), Some(ObjectKind::Face), "Asia/Tokyo")
        );
        let (_, zone) = serde_urlencoded_from::<BreakdownQuery>("").validate(NOW).expect("valid");
        assert_eq!(zone, "UTC");
        let bad = serde_urlencoded_from::<BreakdownQuery>("tz=Europe/Berlin';DROP").validate(NOW);
        assert!(bad.is_err_and(|e| e.name == "tz"));
        let visits = serde_urlencoded_from::<VisitsQuery>("").validate(NOW).expect("valid");
        assert_eq!((visits.gap_ms, visits.limit), (30 * 60_000, 100));
        let bad = serde_urlencoded_from::<VisitsQuery>("gap_minutes=0").validate(NOW);
        assert!(bad.is_err_and(|e| e.name == "gap_minutes"));
    }
}
