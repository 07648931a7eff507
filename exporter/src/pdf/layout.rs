//! A4 pages laid out top to bottom: shaped text, filled boxes and images, placed in mm from the
//! top-left corner; then turned into PDF pages once every glyph the document uses is known (the
//! embedded fonts are subsets of those glyphs).

use std::collections::BTreeMap;

use printpdf::{
    Codepoint, Color, FontId, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, Point, Pt, RawImage,
    Rect, Rgb, TextItem, XObjectId, XObjectTransform,
};

use super::fonts::{FaceKey, PdfFonts, ShapedLine, Shaper, Weight};

/// Page width, mm (A4).
pub const PAGE_WIDTH: f32 = 210.0;
/// Page height, mm (A4).
pub const PAGE_HEIGHT: f32 = 297.0;
/// Margin on every side, mm.
pub const MARGIN: f32 = 15.0;

const MM_PER_PT: f32 = 25.4 / 72.0;

/// A colour, each component 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colour(pub f32, pub f32, pub f32);

impl Colour {
    /// Text.
    pub const INK: Colour = Colour(0.1, 0.1, 0.12);
    /// Secondary text and axes.
    pub const MUTED: Colour = Colour(0.45, 0.45, 0.5);

    fn pdf(self) -> Color {
        Color::Rgb(Rgb { r: self.0, g: self.1, b: self.2, icc_profile: None })
    }
}

/// Where text sits relative to its x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Align {
    /// Starts at x.
    Left,
    /// Ends at x.
    Right,
    /// Centred on x.
    Centre,
}

enum Mark {
    Text { x: f32, baseline: f32, size: f32, colour: Colour, line: ShapedLine },
    Box { x: f32, top: f32, width: f32, height: f32, colour: Colour },
    Image { id: XObjectId, x: f32, top: f32, height: f32, dpi: f32 },
}

/// Lays out pages; [`Pages::finish`] renders them into the document.
pub struct Pages<'f> {
    document: PdfDocument,
    shaper: Shaper<'f>,
    done: Vec<Vec<Mark>>,
    marks: Vec<Mark>,
    /// Distance of the cursor from the page top, mm.
    pub y: f32,
}

impl<'f> Pages<'f> {
    /// An empty document titled `title`, set in `fonts`.
    pub fn new(title: &str, fonts: &'f PdfFonts) -> Self {
        Self {
            document: PdfDocument::new(title),
            shaper: Shaper::new(fonts),
            done: Vec::new(),
            marks: Vec::new(),
            y: MARGIN,
        }
    }

    /// Makes room for `height` mm below the cursor, starting a new page if this one is full.
    pub fn reserve(&mut self, height: f32) {
        if self.y + height > PAGE_HEIGHT - MARGIN {
            self.done.push(std::mem::take(&mut self.marks));
            self.y = MARGIN;
        }
    }

    /// Moves the cursor down `height` mm.
    pub fn gap(&mut self, height: f32) {
        self.y += height;
    }

    /// Width of `text` at `size` pt, mm.
    pub fn width(&mut self, text: &str, weight: Weight, size: f32) -> f32 {
        self.shaper.measure(text, weight).width_em() * size * MM_PER_PT
    }

    /// `text` cut (with an ellipsis) to at most `max_width` mm at `size` pt.
    pub fn fit(&mut self, text: &str, weight: Weight, size: f32, max_width: f32) -> String {
        if self.width(text, weight, size) <= max_width {
            return text.to_owned();
        }
        let mut chars: Vec<char> = text.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let cut: String = chars.iter().collect::<String>() + "…";
            if self.width(&cut, weight, size) <= max_width {
                return cut;
            }
        }
        String::new()
    }

    /// Writes `text` with its baseline `baseline` mm from the page top.
    pub fn text(&mut self, x: f32, baseline: f32, text: &str, style: (Weight, f32, Colour), align: Align) {
        let (weight, size, colour) = style;
        let line = self.shaper.shape(text, weight);
        let width = line.width_em() * size * MM_PER_PT;
        let x = match align {
            Align::Left => x,
            Align::Right => x - width,
            Align::Centre => x - width / 2.0,
        };
        self.marks.push(Mark::Text { x, baseline, size, colour, line });
    }

    /// A line of text at the left margin; the cursor moves below it.
    pub fn line(&mut self, text: &str, weight: Weight, size: f32) {
        let height = size * 0.5;
        self.reserve(height);
        self.y += height;
        self.text(MARGIN, self.y, text, (weight, size, Colour::INK), Align::Left);
    }

    /// A table row of 9 pt cells: (x offset from the margin, width, text, right-aligned?).
    pub fn row(&mut self, cells: &[(f32, f32, String, bool)], weight: Weight) {
        self.reserve(5.0);
        self.y += 5.0;
        for (x, width, text, right) in cells {
            let text = self.fit(text, weight, 9.0, *width - 1.0);
            let (x, align) = if *right { (MARGIN + x + width - 1.0, Align::Right) } else { (MARGIN + x, Align::Left) };
            self.text(x, self.y, &text, (weight, 9.0, Colour::INK), align);
        }
    }

    /// A filled box, `top` mm from the page top.
    pub fn fill(&mut self, x: f32, top: f32, width: f32, height: f32, colour: Colour) {
        self.marks.push(Mark::Box { x, top, width, height, colour });
    }

    /// A JPEG `height` mm high with its top-left corner at (`x`, `top`); false if it does not decode.
    pub fn jpeg(&mut self, jpeg: &[u8], x: f32, top: f32, height: f32) -> bool {
        let Ok(image) = RawImage::decode_from_bytes(jpeg, &mut Vec::new()) else { return false };
        // Scaled to `height`: at `dpi`, the image's pixel rows span `height` mm.
        let dpi = image.height as f32 * 25.4 / height;
        let id = self.document.add_image(&image);
        self.marks.push(Mark::Image { id, x, top, height, dpi });
        true
    }

    /// The document: fonts embedded as subsets of the glyphs used, pages rendered.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.marks.is_empty() || self.done.is_empty() {
            self.done.push(std::mem::take(&mut self.marks));
        }
        let mut fonts: BTreeMap<FaceKey, (FontId, BTreeMap<u16, u16>)> = BTreeMap::new();
        for (key, subset) in self.shaper.subsets() {
            let parsed = subset.ok().and_then(|subset| {
                let parsed = ParsedFont::from_bytes(&subset.program, 0, &mut Vec::new())?;
                Some((parsed, subset.numbering))
            });
            match parsed {
                Some((parsed, numbering)) => {
                    let id = self.document.add_font(&parsed);
                    fonts.insert(key, (id, numbering));
                }
                None => tracing::warn!(?key, "a report font could not be embedded; its text is left out"),
            }
        }
        let pages: Vec<PdfPage> = self
            .done
            .into_iter()
            .map(|marks| PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), render(marks, &fonts)))
            .collect();
        self.document.with_pages(pages).save(&printpdf::PdfSaveOptions::default(), &mut Vec::new())
    }
}

fn render(marks: Vec<Mark>, fonts: &BTreeMap<FaceKey, (FontId, BTreeMap<u16, u16>)>) -> Vec<Op> {
    let mut ops = Vec::new();
    for mark in marks {
        match mark {
            Mark::Box { x, top, width, height, colour } => {
                ops.push(Op::SetFillColor { col: colour.pdf() });
                let mut rect = Rect::from_xywh(
                    Mm(x).into(),
                    Mm(PAGE_HEIGHT - top - height).into(),
                    Mm(width).into(),
                    Mm(height).into(),
                );
                rect.mode = Some(PaintMode::Fill);
                ops.push(Op::DrawRectangle { rectangle: rect });
            }
            Mark::Image { id, x, top, height, dpi } => ops.push(Op::UseXobject {
                id,
                transform: XObjectTransform {
                    translate_x: Some(Mm(x).into()),
                    translate_y: Some(Mm(PAGE_HEIGHT - top - height).into()),
                    dpi: Some(dpi),
                    ..Default::default()
                },
            }),
            Mark::Text { x, baseline, size, colour, line } => {
                let mut pen = x;
                ops.push(Op::SetFillColor { col: colour.pdf() });
                for run in line.runs {
                    let width = run.width_em() * size * MM_PER_PT;
                    if let Some((font, numbering)) = fonts.get(&run.face) {
                        let glyphs = run
                            .glyphs
                            .into_iter()
                            .map(|g| {
                                Codepoint::with_cid(numbering.get(&g.glyph).copied().unwrap_or(0), g.adjust, g.text)
                            })
                            .collect();
                        ops.extend([
                            Op::StartTextSection,
                            Op::SetFont { font: PdfFontHandle::External(font.clone()), size: Pt(size) },
                            Op::SetTextCursor { pos: Point::new(Mm(pen), Mm(PAGE_HEIGHT - baseline)) },
                            Op::ShowText { items: vec![TextItem::GlyphIds(glyphs)] },
                            Op::EndTextSection,
                        ]);
                    }
                    pen += width;
                }
            }
        }
    }
    ops
}
