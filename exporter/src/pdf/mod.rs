//! The summary PDF: what a time range held, for people. Names print in any script (embedded Noto
//! subsets, [`fonts`]); times are in the report's time zone; the activity over the range and the
//! arrivals by weekday and hour are drawn as charts.

pub mod fonts;
mod layout;

use fonts::{PdfFonts, Weight};
use layout::{Align, Colour, MARGIN, PAGE_WIDTH, Pages};

use crate::{EventRecord, Report};

const THUMBNAIL_HEIGHT_MM: f32 = 18.0;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const FACES: Colour = Colour(0.22, 0.45, 0.75);
const BODIES: Colour = Colour(0.62, 0.75, 0.9);
const MATCHED: Colour = Colour(0.85, 0.33, 0.2);
const GRID: Colour = Colour(0.93, 0.93, 0.95);

/// The report as a PDF, in this order: title, range (in the report's time zone) and filters; the
/// totals; the watchlist persons seen, most sighted first; the activity over the range (tracks per
/// bucket, faces and bodies stacked, matched marked); arrivals by weekday and hour; a table per
/// stream (by name); then the selected events with their best shots, those with a watchlist match
/// first. Text is set in `fonts`.
pub fn report_pdf(report: &Report, fonts: &PdfFonts) -> Vec<u8> {
    let clock = &report.clock;
    let mut pages = Pages::new(&report.title, fonts);
    pages.line(&report.title, Weight::Bold, 18.0);
    pages.gap(2.0);
    pages.line(
        &format!("From {} to {} ({})", clock.format(report.from_ms), clock.format(report.to_ms), clock.name()),
        Weight::Regular,
        10.0,
    );
    if !report.filters.is_empty() {
        let filters: Vec<String> = report.filters.iter().map(|(name, value)| format!("{name} = {value}")).collect();
        pages.line(&format!("Filters: {}", filters.join(", ")), Weight::Regular, 10.0);
    }
    pages.line(&format!("Generated {}", clock.format(report.generated_ms)), Weight::Regular, 10.0);

    let (faces, bodies, matched) =
        report.streams.iter().fold((0, 0, 0), |(f, b, m), s| (f + s.faces, b + s.bodies, m + s.matched));
    pages.gap(4.0);
    pages.line(
        &format!("Seen on these streams: {faces} faces, {bodies} bodies, {matched} with a watchlist match"),
        Weight::Bold,
        11.0,
    );

    persons(&mut pages, report);
    timeline(&mut pages, report);
    heatmap(&mut pages, report);
    streams(&mut pages, report);

    pages.gap(4.0);
    pages.line(&format!("Events ({}), watchlist matches first", report.events.len()), Weight::Bold, 13.0);
    let (selected, capped) = report.events_selected;
    if selected > report.events.len() as u64 {
        // Never a silent cut: say how many matched and where the rest are.
        let total = if capped { format!("more than {selected}") } else { selected.to_string() };
        let shown = format!(
            "{} of the {total} events these filters select are shown here; the CSV of the same selection has them all.",
            report.events.len()
        );
        pages.line(&shown, Weight::Regular, 10.0);
    }
    let (with_match, without): (Vec<&EventRecord>, Vec<&EventRecord>) =
        report.events.iter().partition(|e| !e.matches.is_empty());
    for event in with_match.into_iter().chain(without) {
        event_row(&mut pages, report, event);
    }
    pages.finish()
}

fn persons(pages: &mut Pages<'_>, report: &Report) {
    pages.gap(4.0);
    pages.line("Watchlist persons seen", Weight::Bold, 13.0);
    if report.persons.is_empty() {
        pages.line("No watchlist matches in this range.", Weight::Regular, 10.0);
        return;
    }
    let columns =
        [(0.0, 55.0, false), (55.0, 35.0, false), (90.0, 45.0, false), (135.0, 22.0, true), (157.0, 23.0, true)];
    let header = ["Person", "External id", "Watchlist", "Sightings", "Best"];
    pages.row(&cells(&columns, header.map(str::to_owned)), Weight::Bold);
    for p in &report.persons {
        let values = [
            p.display_name.clone(),
            p.external_id.clone(),
            p.list_name.clone(),
            p.sightings.to_string(),
            format!("{:.2}", p.best_similarity),
        ];
        pages.row(&cells(&columns, values), Weight::Regular);
    }
}

fn streams(pages: &mut Pages<'_>, report: &Report) {
    pages.gap(4.0);
    pages.line("Streams", Weight::Bold, 13.0);
    let columns =
        [(0.0, 40.0, false), (40.0, 74.0, false), (114.0, 22.0, true), (136.0, 22.0, true), (158.0, 22.0, true)];
    let header = ["Site", "Stream", "Faces", "Bodies", "Matched"];
    pages.row(&cells(&columns, header.map(str::to_owned)), Weight::Bold);
    for s in &report.streams {
        let name = report.stream_name(&s.stream_id).to_owned();
        let values = [s.site.clone(), name, s.faces.to_string(), s.bodies.to_string(), s.matched.to_string()];
        pages.row(&cells(&columns, values), Weight::Regular);
    }
}

/// Tracks per bucket as bars: faces at the bottom, bodies stacked on them, matched tracks as a
/// mark inside the faces; the largest total labels the axis; the first, middle and last bucket
/// starts label the time axis.
fn timeline(pages: &mut Pages<'_>, report: &Report) {
    const HEIGHT: f32 = 35.0;
    let buckets = &report.timeline;
    pages.gap(4.0);
    pages.line("Activity: tracks per bucket", Weight::Bold, 13.0);
    if buckets.is_empty() {
        pages.line("Nothing was seen in this range.", Weight::Regular, 10.0);
        return;
    }
    pages.reserve(HEIGHT + 14.0);
    let top = pages.y + 3.0;
    let axis = 14.0;
    let (left, width) = (MARGIN + axis, CONTENT_WIDTH - axis);
    let largest = buckets.iter().map(|b| b.faces + b.bodies).max().unwrap_or(0).max(1);
    let small = (Weight::Regular, 7.0, Colour::MUTED);
    pages.fill(left, top, width, HEIGHT, GRID);
    pages.text(left - 1.0, top + 2.5, &largest.to_string(), small, Align::Right);
    pages.text(left - 1.0, top + HEIGHT, "0", small, Align::Right);
    let slot = width / buckets.len() as f32;
    let bar = (slot * 0.8).max(0.2);
    let scale = HEIGHT / largest as f32;
    for (i, bucket) in buckets.iter().enumerate() {
        let x = left + i as f32 * slot + (slot - bar) / 2.0;
        let bottom = top + HEIGHT;
        let faces = bucket.faces as f32 * scale;
        let bodies = bucket.bodies as f32 * scale;
        pages.fill(x, bottom - faces, bar, faces, FACES);
        pages.fill(x, bottom - faces - bodies, bar, bodies, BODIES);
        let matched = bucket.matched.min(bucket.faces + bucket.bodies) as f32 * scale;
        pages.fill(x, bottom - matched, bar, matched, MATCHED);
    }
    // The first bucket's start at the left edge, the middle one's under its bar, the last one's
    // ending at the right edge.
    let middle = buckets.len() / 2;
    let labels = [
        (0, left, Align::Left),
        (middle, left + (middle as f32 + 0.5) * slot, Align::Centre),
        (buckets.len() - 1, left + width, Align::Right),
    ];
    for (i, x, align) in labels {
        let label = report.clock.format_short(buckets[i].start_ms, report.timeline_bucket_ms);
        pages.text(x, top + HEIGHT + 4.0, &label, small, align);
    }
    let legend_y = top + HEIGHT + 8.5;
    let mut x = left;
    for (colour, name) in [(FACES, "faces"), (BODIES, "bodies"), (MATCHED, "with a watchlist match")] {
        pages.fill(x, legend_y - 2.3, 2.5, 2.5, colour);
        pages.text(x + 3.5, legend_y, name, small, Align::Left);
        x += 6.0 + pages.width(name, Weight::Regular, 7.0);
    }
    pages.text(
        left + width,
        legend_y,
        &format!("bucket: {}", bucket_name(report.timeline_bucket_ms)),
        small,
        Align::Right,
    );
    pages.y = legend_y + 1.0;
}

/// Tracks first seen per weekday (rows, Monday first) and hour of the day (columns), in the
/// report's time zone, as shades: the busiest cell darkest, empty cells blank.
fn heatmap(pages: &mut Pages<'_>, report: &Report) {
    const CELL_HEIGHT: f32 = 4.5;
    pages.gap(4.0);
    pages.line(&format!("Arrivals by weekday and hour ({})", report.clock.name()), Weight::Bold, 13.0);
    pages.reserve(7.0 * CELL_HEIGHT + 8.0);
    let top = pages.y + 2.0;
    let axis = 10.0;
    let cell_width = (CONTENT_WIDTH - axis) / 24.0;
    let left = MARGIN + axis;
    let busiest = report.heatmap.iter().map(|c| c.tracks).max().unwrap_or(0).max(1);
    let small = (Weight::Regular, 7.0, Colour::MUTED);
    for (row, day) in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].iter().enumerate() {
        let y = top + row as f32 * CELL_HEIGHT;
        pages.text(MARGIN, y + CELL_HEIGHT - 1.2, day, small, Align::Left);
        pages.fill(left, y, cell_width * 24.0, CELL_HEIGHT - 0.4, GRID);
    }
    for cell in &report.heatmap {
        if !(1..=7).contains(&cell.day_of_week) || cell.hour > 23 || cell.tracks == 0 {
            continue;
        }
        let share = cell.tracks as f32 / busiest as f32;
        let shade = Colour(1.0 - 0.8 * share, 1.0 - 0.6 * share, 1.0 - 0.3 * share);
        let y = top + f32::from(cell.day_of_week - 1) * CELL_HEIGHT;
        pages.fill(left + f32::from(cell.hour) * cell_width, y, cell_width - 0.3, CELL_HEIGHT - 0.4, shade);
    }
    let axis_y = top + 7.0 * CELL_HEIGHT + 3.0;
    for hour in (0..24).step_by(3) {
        pages.text(left + hour as f32 * cell_width, axis_y, &format!("{hour:02}h"), small, Align::Left);
    }
    let note = format!("darkest: {busiest} tracks in an hour");
    pages.text(left + 24.0 * cell_width, axis_y + 4.0, &note, small, Align::Right);
    pages.y = axis_y + 5.0;
}

fn event_row(pages: &mut Pages<'_>, report: &Report, event: &EventRecord) {
    pages.reserve(THUMBNAIL_HEIGHT_MM + 3.0);
    let top = pages.y + 2.0;
    if let Some(jpeg) = event.best_shot.as_deref() {
        pages.jpeg(jpeg, MARGIN, top, THUMBNAIL_HEIGHT_MM);
    }
    let x = MARGIN + 22.0;
    let width = CONTENT_WIDTH - 22.0;
    let ink = |weight| (weight, 9.0, Colour::INK);
    let heading = format!("{}  {}", report.clock.format(event.capture_ms), event.kind);
    pages.text(x, top + 4.0, &heading, ink(Weight::Bold), Align::Left);
    let place = format!("{} / {}  quality {:.2}", event.site, report.stream_name(&event.stream_id), event.quality);
    let place = pages.fit(&place, Weight::Regular, 9.0, width);
    pages.text(x, top + 9.0, &place, ink(Weight::Regular), Align::Left);
    if !event.matches.is_empty() {
        let matches: Vec<String> =
            event.matches.iter().map(|m| format!("{} [{}] {:.2}", m.display_name, m.list_name, m.similarity)).collect();
        let matches = pages.fit(&matches.join("; "), Weight::Regular, 9.0, width);
        pages.text(x, top + 14.0, &matches, ink(Weight::Regular), Align::Left);
    }
    pages.y = top + THUMBNAIL_HEIGHT_MM + 1.0;
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
    let document = printpdf::PdfDocument::parse(bytes, &Default::default(), &mut Vec::new())?;
    Ok(PdfContents {
        pages: document.pages.len(),
        text: document.extract_text().concat().join("\n"),
        images: document.resources.xobjects.map.len(),
    })
}

fn bucket_name(bucket_ms: i64) -> String {
    match bucket_ms {
        60_000 => "1 minute".into(),
        3_600_000 => "1 hour".into(),
        86_400_000 => "1 day".into(),
        ms => format!("{} minutes", ms / 60_000),
    }
}

fn cells<const N: usize>(columns: &[(f32, f32, bool); N], values: [String; N]) -> Vec<(f32, f32, String, bool)> {
    columns.iter().zip(values).map(|((x, width, right), text)| (*x, *width, text, *right)).collect()
}
