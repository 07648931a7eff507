//! Exporter: reports of events as CSV (every event, one row each) and PDF (a summary for people:
//! totals, watchlist persons, charts of the activity, streams and the events with their best
//! shots, in any script and time zone).
//!
//! It renders plain records ([`EventRecord`], [`Report`]); where they come from is the caller's
//! business (the query service's download endpoints, the scheduler's mailed reports).

use std::collections::BTreeMap;

mod clock;
pub mod pdf;

pub use clock::{ReportClock, UnknownTimeZone};
pub use pdf::fonts::{FontError, PdfFonts};
pub use pdf::{PdfContents, read_pdf, report_pdf};

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing CSV failed.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The CSV writer could not hand its bytes back.
    #[error("finishing CSV: {0}")]
    CsvBuffer(String),
}

/// A watchlist match of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRecord {
    /// Watchlist name.
    pub list_name: String,
    /// The person's display name.
    pub display_name: String,
    /// The person's id in the customer's system.
    pub external_id: String,
    /// Cosine similarity.
    pub similarity: f32,
}

/// One event of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Event id.
    pub id: String,
    /// Capture time, ms since the epoch.
    pub capture_ms: i64,
    /// Site.
    pub site: String,
    /// Stream.
    pub stream_id: String,
    /// `face` or `body`.
    pub kind: String,
    /// Track within the stream.
    pub track_id: String,
    /// Detector score.
    pub detection_score: f32,
    /// Best-shot quality.
    pub quality: f32,
    /// Frames in the track.
    pub frame_count: u32,
    /// When the track was first seen, ms since the epoch.
    pub first_seen_ms: i64,
    /// When the track was last seen (so far), ms since the epoch.
    pub last_seen_ms: i64,
    /// Watchlist matches, best first.
    pub matches: Vec<MatchRecord>,
    /// The best-shot JPEG, when the report shows it.
    pub best_shot: Option<Vec<u8>>,
}

/// What one stream saw.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTotals {
    /// Site.
    pub site: String,
    /// Stream.
    pub stream_id: String,
    /// Face events.
    pub faces: u64,
    /// Body events.
    pub bodies: u64,
    /// Events with a watchlist match.
    pub matched: u64,
}

/// How often a watchlist person was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonTotals {
    /// Display name.
    pub display_name: String,
    /// The person's id in the customer's system.
    pub external_id: String,
    /// Watchlist name.
    pub list_name: String,
    /// Matched events.
    pub sightings: u64,
    /// Best similarity.
    pub best_similarity: f32,
}

/// Tracks that started in one bucket of a report's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineBucket {
    /// Bucket start, ms since the epoch.
    pub start_ms: i64,
    /// Face tracks.
    pub faces: u64,
    /// Body tracks.
    pub bodies: u64,
    /// Tracks with a watchlist match.
    pub matched: u64,
}

/// Tracks first seen in one hour of one weekday, in the report's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapCell {
    /// 1 (Monday) to 7 (Sunday).
    pub day_of_week: u8,
    /// 0 to 23.
    pub hour: u8,
    /// Tracks.
    pub tracks: u64,
}

/// A summary report for people: what was seen in a time range.
#[derive(Debug, Clone)]
pub struct Report {
    /// Title on the first page.
    pub title: String,
    /// When it was made, ms since the epoch.
    pub generated_ms: i64,
    /// Start of the range, ms since the epoch.
    pub from_ms: i64,
    /// End of the range (exclusive), ms since the epoch.
    pub to_ms: i64,
    /// The time zone its times are shown in.
    pub clock: ReportClock,
    /// The filters that applied, as (name, value).
    pub filters: Vec<(String, String)>,
    /// Per stream.
    pub streams: Vec<StreamTotals>,
    /// The most sighted watchlist persons.
    pub persons: Vec<PersonTotals>,
    /// Stream names by stream id (a stream missing here is shown by its id).
    pub stream_names: BTreeMap<String, String>,
    /// Tracks per bucket over the range, oldest first.
    pub timeline: Vec<TimelineBucket>,
    /// The width of a timeline bucket, ms.
    pub timeline_bucket_ms: i64,
    /// Arrivals by weekday and hour.
    pub heatmap: Vec<HeatmapCell>,
    /// The events shown with their best shots.
    pub events: Vec<EventRecord>,
    /// How many events the filters select in the range (the shown ones may be fewer), and whether
    /// that count stopped at a cap (then it is "at least").
    pub events_selected: (u64, bool),
}

impl Report {
    /// The name of stream `id`, or `id` when it has none.
    pub fn stream_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.stream_names.get(id).map_or(id, String::as_str)
    }
}

/// `ms` since the epoch as RFC 3339 (UTC).
pub use sightline_common::clock::format_time;

/// The columns of [`events_csv`].
pub const CSV_COLUMNS: [&str; 17] = [
    "event_id",
    "capture_time",
    "capture_ms",
    "site",
    "stream_id",
    "kind",
    "track_id",
    "detection_score",
    "quality",
    "frame_count",
    "matches",
    "top_person",
    "top_list",
    "top_similarity",
    "first_seen",
    "last_seen",
    "dwell_s",
];

/// The events as CSV (RFC 4180, a header row, one row per event). `matches` lists every match as
/// `name (external id) [list] similarity`, separated by `; `; the `top_*` columns repeat the best;
/// `first_seen`, `last_seen` and `dwell_s` say when the event's track was in view and for how long.
pub fn events_csv(events: &[EventRecord]) -> Result<Vec<u8>, ExportError> {
    let mut bytes = csv_header()?;
    bytes.extend(csv_rows(events)?);
    Ok(bytes)
}

/// The header row of [`events_csv`], for a CSV streamed in chunks ([`csv_rows`]).
pub fn csv_header() -> Result<Vec<u8>, ExportError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS)?;
    writer.into_inner().map_err(|e| ExportError::CsvBuffer(e.to_string()))
}

/// The rows of [`events_csv`] for `events`, without the header: one chunk of a streamed CSV.
pub fn csv_rows(events: &[EventRecord]) -> Result<Vec<u8>, ExportError> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    for event in events {
        let matches: Vec<String> = event
            .matches
            .iter()
            .map(|m| format!("{} ({}) [{}] {:.3}", m.display_name, m.external_id, m.list_name, m.similarity))
            .collect();
        let top = event.matches.first();
        let text = |value: &str| spreadsheet_safe(value);
        writer.write_record([
            text(&event.id),
            format_time(event.capture_ms),
            event.capture_ms.to_string(),
            text(&event.site),
            text(&event.stream_id),
            text(&event.kind),
            text(&event.track_id),
            format!("{:.3}", event.detection_score),
            format!("{:.3}", event.quality),
            event.frame_count.to_string(),
            text(&matches.join("; ")),
            top.map(|m| text(&m.display_name)).unwrap_or_default(),
            top.map(|m| text(&m.list_name)).unwrap_or_default(),
            top.map(|m| format!("{:.3}", m.similarity)).unwrap_or_default(),
            format_time(event.first_seen_ms),
            format_time(event.last_seen_ms),
            format!("{:.1}", (event.last_seen_ms - event.first_seen_ms).max(0) as f64 / 1000.0),
        ])?;
    }
    writer.into_inner().map_err(|e| ExportError::CsvBuffer(e.to_string()))
}

/// `value` as a spreadsheet shows it rather than runs it: a cell starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return is a formula to Excel, LibreOffice and Google Sheets, so such a text (a
/// name an operator typed, a stream label) gets a leading `'`.
pub fn spreadsheet_safe(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, matches: Vec<MatchRecord>) -> EventRecord {
        EventRecord {
            id: id.into(),
            capture_ms: 1_795_168_800_000,
            site: "lobby".into(),
            stream_id: "cam-1".into(),
            kind: "face".into(),
            track_id: "t1".into(),
            detection_score: 0.99,
            quality: 0.8,
            frame_count: 12,
            first_seen_ms: 1_795_168_798_000,
            last_seen_ms: 1_795_168_804_500,
            matches,
            best_shot: None,
        }
    }

    fn ann() -> MatchRecord {
        MatchRecord {
            list_name: "VIP".into(),
            display_name: "Ann, \"the\" boss".into(),
            external_id: "E1".into(),
            similarity: 0.91,
        }
    }

    #[test]
    fn csv_has_a_header_and_one_quoted_row_per_event() {
        let bytes = events_csv(&[event("a", vec![ann()]), event("b", vec![])]).expect("csv");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().expect("header").iter().collect::<Vec<_>>(), CSV_COLUMNS.to_vec());
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][1], "2026-11-20T10:00:00Z");
        assert_eq!(&rows[0][10], "Ann, \"the\" boss (E1) [VIP] 0.910");
        assert_eq!((&rows[0][11], &rows[0][13]), ("Ann, \"the\" boss", "0.910"));
        assert_eq!(&rows[1][11], "");
        assert_eq!(
            (&rows[0][14], &rows[0][15], &rows[0][16]),
            ("2026-11-20T09:59:58Z", "2026-11-20T10:00:04.5Z", "6.5")
        );
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
        let formula = MatchRecord { display_name: "=HYPERLINK(\"http://x\")".into(), ..ann() };
        let mut row = event("c", vec![formula]);
        row.site = "+1 lobby".into();
        row.stream_id = "@cam".into();
        let bytes = events_csv(&[row]).expect("csv");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
        assert_eq!((&rows[0][3], &rows[0][4]), ("'+1 lobby", "'@cam"));
        assert_eq!(&rows[0][11], "'=HYPERLINK(\"http://x\")");
        assert!(rows[0][10].starts_with("'="), "{}", &rows[0][10]);
        for value in ["-2", "\tx", "\rx"] {
            assert!(spreadsheet_safe(value).starts_with('\''), "{value:?}");
        }
        assert_eq!(spreadsheet_safe("Ann"), "Ann");
    }

    #[test]
    fn the_pdf_reads_back_with_its_totals_persons_and_events() {
        let person = |name: &str, id: &str, sightings| PersonTotals {
            display_name: name.into(),
            external_id: id.into(),
            list_name: "VIP".into(),
            sightings,
            best_similarity: 0.91,
        };
        let names = ["Анна Петрова", "王小明", "Νίκος", "محمد علي"];
        let hour = 3_600_000;
        let report = Report {
            title: "Daily report".into(),
            generated_ms: 1_795_168_800_000,
            from_ms: 1_795_082_400_000,
            to_ms: 1_795_168_800_000,
            clock: ReportClock::named("Asia/Tokyo").expect("known zone"),
            filters: vec![("site".into(), "lobby".into())],
            streams: vec![StreamTotals {
                site: "lobby".into(),
                stream_id: "cam-1".into(),
                faces: 7,
                bodies: 3,
                matched: 2,
            }],
            stream_names: [("cam-1".to_owned(), "Front door".to_owned())].into(),
            persons: names.iter().enumerate().map(|(i, name)| person(name, &format!("E{i}"), 4 - i as u64)).collect(),
            timeline: (0..24)
                .map(|i| TimelineBucket {
                    start_ms: 1_795_082_400_000 + i * hour,
                    faces: i as u64,
                    bodies: 2,
                    matched: 1,
                })
                .collect(),
            timeline_bucket_ms: hour,
            heatmap: (0..24).map(|h| HeatmapCell { day_of_week: 5, hour: h, tracks: u64::from(h) }).collect(),
            events: (0..40)
                .map(|i| {
                    let matches =
                        if i == 39 { vec![MatchRecord { display_name: names[1].into(), ..ann() }] } else { vec![] };
                    event(&format!("e{i}"), matches)
                })
                .collect(),
            events_selected: (98, false),
        };
        let fonts = PdfFonts::load_system().expect("Debian's Noto fonts (infra/stack deps installs them)");
        let bytes = report_pdf(&report, &fonts);
        if let Ok(path) = std::env::var("SIGHTLINE_PDF_SAMPLE") {
            std::fs::write(path, &bytes).expect("writing the sample");
        }
        let contents = read_pdf(&bytes).expect("a valid PDF");
        assert!(contents.pages >= 2, "forty events do not fit one page");
        let text = contents.text;
        for needle in [
            "Daily report",
            "Seen on these streams: 7 faces, 3 bodies, 2 with",
            "Front door",
            "Анна Петрова",
            "王小明",
            "E1",
            "site = lobby",
            "2026-11-20 19:00:00 +09:00",
            "40 of the 98 events these filters select are shown here",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        // The one event with a match (the oldest) is listed first: its match line comes before the
        // second event's line.
        let events = &text[text.find("Events (40)").expect("the events")..];
        let second_event = events.match_indices("quality").nth(1).expect("two events").0;
        assert!(events[..second_event].contains("王小明 [VIP]"), "matched events come first: {events}");
    }
}
