//! Exporter: reports of events as CSV (every event, one row each) and PDF (a summary for people:
//! totals, streams, watchlist persons and the latest events with their best shots).
//!
//! It renders plain records ([`EventRecord`], [`Report`]); where they come from is the caller's
//! business (the query service's download endpoints, the scheduler's mailed reports).

use printpdf::{
    BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, RawImage, TextItem,
    XObjectTransform,
};

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

/// A summary report for people: what was seen in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Title on the first page.
    pub title: String,
    /// When it was made, ms since the epoch.
    pub generated_ms: i64,
    /// Start of the range, ms since the epoch.
    pub from_ms: i64,
    /// End of the range (exclusive), ms since the epoch.
    pub to_ms: i64,
    /// The filters that applied, as (name, value).
    pub filters: Vec<(String, String)>,
    /// Per stream.
    pub streams: Vec<StreamTotals>,
    /// The most sighted watchlist persons.
    pub persons: Vec<PersonTotals>,
    /// The latest events (with best shots where present).
    pub events: Vec<EventRecord>,
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

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 15.0;
const THUMBNAIL_HEIGHT_MM: f32 = 18.0;

/// Lays out A4 pages top to bottom: lines of text and rows with a thumbnail.
struct Pages {
    done: Vec<PdfPage>,
    ops: Vec<Op>,
    /// Distance of the next line's baseline from the page top, mm.
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Self { done: Vec::new(), ops: Vec::new(), y: MARGIN }
    }

    /// Makes room for `height` mm, starting a new page if this one is full.
    fn reserve(&mut self, height: f32) {
        if self.y + height > PAGE_HEIGHT - MARGIN {
            let ops = std::mem::take(&mut self.ops);
            self.done.push(PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops));
            self.y = MARGIN;
        }
    }

    /// Writes `text` at `x` mm on the current line.
    fn text_at(&mut self, x: f32, text: &str, font: BuiltinFont, size: f32) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont { font: PdfFontHandle::Builtin(font), size: Pt(size) },
            Op::SetTextCursor { pos: Point::new(Mm(x), Mm(PAGE_HEIGHT - self.y)) },
            Op::ShowText { items: vec![TextItem::Text(text.to_owned())] },
            Op::EndTextSection,
        ]);
    }

    /// A line of text, then the cursor moves down.
    fn line(&mut self, text: &str, font: BuiltinFont, size: f32) {
        let height = size * 0.5;
        self.reserve(height);
        self.y += height;
        self.text_at(MARGIN, text, font, size);
    }

    /// A table row: cells at the given x offsets (mm).
    fn row(&mut self, cells: &[(f32, String)], font: BuiltinFont) {
        self.reserve(5.0);
        self.y += 5.0;
        for (x, text) in cells {
            self.text_at(MARGIN + x, text, font, 9.0);
        }
    }

    fn gap(&mut self, height: f32) {
        self.y += height;
    }

    fn finish(mut self) -> Vec<PdfPage> {
        if !self.ops.is_empty() || self.done.is_empty() {
            let ops = std::mem::take(&mut self.ops);
            self.done.push(PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops));
        }
        self.done
    }
}

/// The report as a PDF: title, range and filters; totals and a table per stream (the streams the
/// filters name, all their events); the most sighted watchlist persons; then the events the filters
/// select, each with its best shot. Text uses the PDF base fonts
/// (Latin-1 names print as they are; other scripts need an embedded font, not done yet).
pub fn report_pdf(report: &Report) -> Vec<u8> {
    let mut document = PdfDocument::new(&report.title);
    let mut pages = Pages::new();
    pages.line(&report.title, BuiltinFont::HelveticaBold, 18.0);
    pages.gap(2.0);
    pages.line(
        &format!("From {} to {}", format_time(report.from_ms), format_time(report.to_ms)),
        BuiltinFont::Helvetica,
        10.0,
    );
    if !report.filters.is_empty() {
        let filters: Vec<String> = report.filters.iter().map(|(name, value)| format!("{name} = {value}")).collect();
        pages.line(&format!("Filters: {}", filters.join(", ")), BuiltinFont::Helvetica, 10.0);
    }
    pages.line(&format!("Generated {}", format_time(report.generated_ms)), BuiltinFont::Helvetica, 10.0);

    let (faces, bodies, matched) =
        report.streams.iter().fold((0, 0, 0), |(f, b, m), s| (f + s.faces, b + s.bodies, m + s.matched));
    pages.gap(4.0);
    pages.line(
        &format!("Seen on these streams: {faces} faces, {bodies} bodies, {matched} with a watchlist match"),
        BuiltinFont::HelveticaBold,
        11.0,
    );

    pages.gap(4.0);
    pages.line("Streams", BuiltinFont::HelveticaBold, 13.0);
    let header = ["Site", "Stream", "Faces", "Bodies", "Matched"];
    let stream_columns = [0.0, 35.0, 120.0, 140.0, 160.0];
    pages.row(&cells(&stream_columns, header.map(str::to_owned)), BuiltinFont::HelveticaBold);
    for s in &report.streams {
        let values =
            [s.site.clone(), s.stream_id.clone(), s.faces.to_string(), s.bodies.to_string(), s.matched.to_string()];
        pages.row(&cells(&stream_columns, values), BuiltinFont::Helvetica);
    }

    pages.gap(4.0);
    pages.line("Most sighted watchlist persons", BuiltinFont::HelveticaBold, 13.0);
    if report.persons.is_empty() {
        pages.line("No watchlist matches in this range.", BuiltinFont::Helvetica, 10.0);
    } else {
        let person_columns = [0.0, 55.0, 90.0, 135.0, 160.0];
        let header = ["Person", "External id", "Watchlist", "Sightings", "Best"];
        pages.row(&cells(&person_columns, header.map(str::to_owned)), BuiltinFont::HelveticaBold);
        for p in &report.persons {
            let values = [
                p.display_name.clone(),
                p.external_id.clone(),
                p.list_name.clone(),
                p.sightings.to_string(),
                format!("{:.2}", p.best_similarity),
            ];
            pages.row(&cells(&person_columns, values), BuiltinFont::Helvetica);
        }
    }

    pages.gap(4.0);
    pages.line(
        &format!("Latest events matching the filters ({})", report.events.len()),
        BuiltinFont::HelveticaBold,
        13.0,
    );
    for event in &report.events {
        pages.reserve(THUMBNAIL_HEIGHT_MM + 3.0);
        let top = pages.y + 2.0;
        let image = event.best_shot.as_deref().and_then(|jpeg| RawImage::decode_from_bytes(jpeg, &mut Vec::new()).ok());
        if let Some(image) = image {
            // Scaled to the thumbnail height: at `dpi`, `height` pixels span THUMBNAIL_HEIGHT_MM.
            let dpi = image.height as f32 * 25.4 / THUMBNAIL_HEIGHT_MM;
            let id = document.add_image(&image);
            pages.ops.push(Op::UseXobject {
                id,
                transform: XObjectTransform {
                    translate_x: Some(Mm(MARGIN).into()),
                    translate_y: Some(Mm(PAGE_HEIGHT - top - THUMBNAIL_HEIGHT_MM).into()),
                    dpi: Some(dpi),
                    ..Default::default()
                },
            });
        }
        let matches: Vec<String> =
            event.matches.iter().map(|m| format!("{} [{}] {:.2}", m.display_name, m.list_name, m.similarity)).collect();
        pages.y = top + 4.0;
        pages.text_at(
            MARGIN + 22.0,
            &format!("{}  {}", format_time(event.capture_ms), event.kind),
            BuiltinFont::HelveticaBold,
            9.0,
        );
        pages.y += 5.0;
        pages.text_at(
            MARGIN + 22.0,
            &format!("{} / {}  quality {:.2}", event.site, event.stream_id, event.quality),
            BuiltinFont::Helvetica,
            9.0,
        );
        if !matches.is_empty() {
            pages.y += 5.0;
            pages.text_at(MARGIN + 22.0, &matches.join("; "), BuiltinFont::Helvetica, 9.0);
        }
        pages.y = top + THUMBNAIL_HEIGHT_MM + 1.0;
    }
    document.with_pages(pages.finish()).save(&PdfSaveOptions::default(), &mut Vec::new())
}

/// What a PDF holds, read back (to check rendered reports).
#[derive(Debug, Clone, PartialEq)]
pub struct PdfContents {
    /// Pages.
    pub pages: usize,
    /// The text of every page, in order, one run per line.
    pub text: String,
    /// Images (XObjects) it embeds.
    pub images: usize,
}

/// Parses `bytes` as a PDF; an error says why it is not one.
pub fn read_pdf(bytes: &[u8]) -> Result<PdfContents, String> {
    let document = PdfDocument::parse(bytes, &Default::default(), &mut Vec::new())?;
    Ok(PdfContents {
        pages: document.pages.len(),
        text: document.extract_text().concat().join("\n"),
        images: document.resources.xobjects.map.len(),
    })
}

fn cells<const N: usize>(columns: &[f32; N], values: [String; N]) -> Vec<(f32, String)> {
    columns.iter().copied().zip(values).collect()
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
        let report = Report {
            title: "Daily report".into(),
            generated_ms: 1_795_168_800_000,
            from_ms: 1_795_082_400_000,
            to_ms: 1_795_168_800_000,
            filters: vec![("site".into(), "lobby".into())],
            streams: vec![StreamTotals {
                site: "lobby".into(),
                stream_id: "cam-1".into(),
                faces: 7,
                bodies: 3,
                matched: 2,
            }],
            persons: vec![PersonTotals {
                display_name: "Ann".into(),
                external_id: "E1".into(),
                list_name: "VIP".into(),
                sightings: 2,
                best_similarity: 0.91,
            }],
            events: (0..40).map(|i| event(&format!("e{i}"), vec![ann()])).collect(),
        };
        let contents = read_pdf(&report_pdf(&report)).expect("a valid PDF");
        assert!(contents.pages >= 2, "forty events do not fit one page");
        let text = contents.text;
        for needle in
            ["Daily report", "Seen on these streams: 7 faces, 3 bodies, 2 with", "cam-1", "Ann", "E1", "site = lobby"]
        {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }
}
