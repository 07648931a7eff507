//! The fonts a PDF report embeds, and text shaped with them.
//!
//! A report prints names in any script, so text is set in a chain of Noto faces (Latin, Greek and
//! Cyrillic; Arabic; CJK) and each character takes the first face that has it. Text is put in
//! visual order by the Unicode bidirectional algorithm and shaped per face run (`allsorts`: Arabic
//! joining forms, ligatures, kerning), so Arabic reads right to left with its letters joined.
//! Each face used is embedded as a subset of the glyphs the report uses, so a report with one CJK
//! name carries a few kilobytes of that face rather than its 16 MB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use allsorts::binary::read::ReadScope;
use allsorts::font::MatchingPresentation;
use allsorts::font_data::{DynamicFontTableProvider, FontData};
use allsorts::glyph_position::{GlyphLayout, TextDirection};
use allsorts::gsub::{FeatureMask, FeatureMaskExt};
use allsorts::subset::{CmapTarget, SubsetProfile};
use allsorts::{Font, tag};

/// Where Debian's `fonts-noto-core` and `fonts-noto-cjk` put the faces a report uses.
const DEBIAN_NOTO: [(&str, &str, &str); 3] = [
    (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
        "Latin, Greek and Cyrillic (fonts-noto-core)",
    ),
    (
        "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf",
        "Arabic (fonts-noto-core)",
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "Chinese, Japanese and Korean (fonts-noto-cjk)",
    ),
];

/// Why the report fonts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    /// A font file could not be read.
    #[error("reading the {what} font {path}: {source} (on Debian: apt-get install fonts-noto-core fonts-noto-cjk)")]
    Read {
        /// What the face is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A font file is not a font allsorts can use.
    #[error("parsing the font {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Regular or bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weight {
    /// Body text.
    Regular,
    /// Headings.
    Bold,
}

/// One face of a font file (a collection holds several).
#[derive(Debug)]
struct Face {
    path: PathBuf,
    bytes: Vec<u8>,
    index: usize,
}

/// The faces reports are set in: for each weight, a chain of faces tried in order per character.
#[derive(Debug, Clone)]
pub struct PdfFonts {
    regular: Arc<Vec<Face>>,
    bold: Arc<Vec<Face>>,
}

impl PdfFonts {
    /// Loads the Noto faces from where Debian installs them (`fonts-noto-core`, `fonts-noto-cjk`).
    pub fn load_system() -> Result<Self, FontError> {
        let pairs: Vec<(PathBuf, PathBuf, &str)> =
            DEBIAN_NOTO.iter().map(|(regular, bold, what)| (regular.into(), bold.into(), *what)).collect();
        Self::load(&pairs)
    }

    /// Loads (regular file, bold file, what it covers) in fallback order; collections use face 0.
    pub fn load(chain: &[(PathBuf, PathBuf, &str)]) -> Result<Self, FontError> {
        let mut regular = Vec::with_capacity(chain.len());
        let mut bold = Vec::with_capacity(chain.len());
        for (regular_path, bold_path, what) in chain {
            regular.push(Face::read(regular_path, what)?);
            bold.push(Face::read(bold_path, what)?);
        }
        Ok(Self { regular: Arc::new(regular), bold: Arc::new(bold) })
    }

    fn faces(&self, weight: Weight) -> &[Face] {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }
}

impl Face {
    fn read(path: &Path, what: &str) -> Result<Self, FontError> {
        let bytes = std::fs::read(path).map_err(|source| FontError::Read {
            what: what.to_owned(),
            path: path.to_owned(),
            source,
        })?;
        let face = Self { path: path.to_owned(), bytes, index: 0 };
        face.font().map_err(|reason| FontError::Parse { path: path.to_owned(), reason })?;
        Ok(face)
    }

    fn font(&self) -> Result<Font<DynamicFontTableProvider<'_>>, String> {
        let data = ReadScope::new(&self.bytes).read::<FontData<'_>>().map_err(|e| e.to_string())?;
        let provider = data.table_provider(self.index).map_err(|e| e.to_string())?;
        Font::new(provider).map_err(|e| e.to_string())
    }
}

/// Which face of a [`PdfFonts`] chain: weight and position in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FaceKey {
    /// Regular or bold.
    pub weight: Weight,
    /// Position in the fallback chain.
    pub position: usize,
}

/// A glyph placed by the shaper.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedGlyph {
    /// The glyph in its face (the original font's numbering).
    pub glyph: u16,
    /// The text the glyph stands for (several characters for a ligature), for copy and search.
    pub text: String,
    /// How far the pen moves after it, in em.
    pub advance_em: f32,
    /// How much less than the face's own advance that is, in thousandths of an em (the PDF's `TJ`
    /// adjustment).
    pub adjust: f32,
}

/// A run of glyphs of one face, in visual order.
#[derive(Debug, Clone, PartialEq)]
pub struct GlyphRun {
    /// The face.
    pub face: FaceKey,
    /// The glyphs, left to right.
    pub glyphs: Vec<PlacedGlyph>,
}

impl GlyphRun {
    /// Width in em.
    pub fn width_em(&self) -> f32 {
        self.glyphs.iter().map(|g| g.advance_em).sum()
    }
}

/// A line of text shaped for the page: runs left to right.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShapedLine {
    /// The runs, left to right.
    pub runs: Vec<GlyphRun>,
}

impl ShapedLine {
    /// Width in em.
    pub fn width_em(&self) -> f32 {
        self.runs.iter().map(GlyphRun::width_em).sum()
    }
}

/// Shapes text with a [`PdfFonts`] chain, remembering which glyphs of which face were used.
pub struct Shaper<'f> {
    fonts: &'f PdfFonts,
    loaded: BTreeMap<FaceKey, Font<DynamicFontTableProvider<'f>>>,
    /// Every glyph used per face, with its text.
    used: BTreeMap<FaceKey, BTreeMap<u16, String>>,
}

impl<'f> Shaper<'f> {
    /// A shaper over `fonts`.
    pub fn new(fonts: &'f PdfFonts) -> Self {
        Self { fonts, loaded: BTreeMap::new(), used: BTreeMap::new() }
    }

    fn font(&mut self, key: FaceKey) -> Option<&mut Font<DynamicFontTableProvider<'f>>> {
        if !self.loaded.contains_key(&key) {
            let face = self.fonts.faces(key.weight).get(key.position)?;
            let font = face.font().ok()?;
            self.loaded.insert(key, font);
        }
        self.loaded.get_mut(&key)
    }

    /// Whether the face has a glyph for `ch`.
    fn covers(&mut self, key: FaceKey, ch: char) -> bool {
        self.font(key)
            .map(|font| font.lookup_glyph_index(ch, MatchingPresentation::NotRequired, None).0 != 0)
            .unwrap_or(false)
    }

    /// The first face of the chain with a glyph for `ch` (the first face when none has it: it
    /// draws its "missing glyph" box).
    fn face_for(&mut self, weight: Weight, ch: char) -> FaceKey {
        let faces = self.fonts.faces(weight).len();
        (0..faces)
            .map(|position| FaceKey { weight, position })
            .find(|key| self.covers(*key, ch))
            .unwrap_or(FaceKey { weight, position: 0 })
    }

    /// `text` as one line: in visual order (bidi), split into runs of one face each, shaped; its
    /// glyphs are embedded.
    pub fn shape(&mut self, text: &str, weight: Weight) -> ShapedLine {
        self.shape_line(text, weight, true)
    }

    /// `text` shaped as [`Shaper::shape`] does, to measure it: its glyphs are not embedded.
    pub fn measure(&mut self, text: &str, weight: Weight) -> ShapedLine {
        self.shape_line(text, weight, false)
    }

    fn shape_line(&mut self, text: &str, weight: Weight, record: bool) -> ShapedLine {
        let mut line = ShapedLine::default();
        if text.is_empty() {
            return line;
        }
        // The report reads left to right: a right-to-left name is one run within its line (the
        // line's own direction does not follow the name, which would reverse the whole line).
        let bidi = unicode_bidi::BidiInfo::new(text, Some(unicode_bidi::Level::ltr()));
        for paragraph in &bidi.paragraphs {
            let (levels, runs) = bidi.visual_runs(paragraph, paragraph.range.clone());
            for run in runs {
                let right_to_left = levels[run.start].is_rtl();
                let mut pieces = self.split_by_face(&text[run], weight);
                if right_to_left {
                    pieces.reverse();
                }
                for (face, piece) in pieces {
                    if let Some(glyph_run) = self.shape_piece(face, &piece, right_to_left, record) {
                        line.runs.push(glyph_run);
                    }
                }
            }
        }
        line
    }

    /// Splits `text` (logical order) where the face changes; a character every face has (a space,
    /// a digit) stays with the run before it.
    fn split_by_face(&mut self, text: &str, weight: Weight) -> Vec<(FaceKey, String)> {
        let mut pieces: Vec<(FaceKey, String)> = Vec::new();
        for ch in text.chars() {
            if let Some((face, piece)) = pieces.last_mut()
                && (ch.is_whitespace() || self.covers(*face, ch))
            {
                piece.push(ch);
                continue;
            }
            let face = self.face_for(weight, ch);
            pieces.push((face, ch.to_string()));
        }
        pieces
    }

    fn shape_piece(&mut self, face: FaceKey, text: &str, right_to_left: bool, record: bool) -> Option<GlyphRun> {
        let script = script_of(text);
        let font = self.font(face)?;
        let units_per_em = f32::from(font.head_table.units_per_em);
        let raw = font.map_glyphs(text, script, MatchingPresentation::NotRequired);
        let infos = match font.shape(raw, script, None, FeatureMask::default_mask(), &[], None, true) {
            Ok(infos) => infos,
            Err((_, infos)) => infos,
        };
        let direction = if right_to_left { TextDirection::RightToLeft } else { TextDirection::LeftToRight };
        let positions = GlyphLayout::new(font, &infos, direction, false).glyph_positions().ok()?;
        let mut glyphs = Vec::with_capacity(infos.len());
        for (info, position) in infos.iter().zip(&positions) {
            let glyph = info.glyph.glyph_index;
            let own_advance = f32::from(font.horizontal_advance(glyph).unwrap_or(0));
            let advance = position.hori_advance as f32;
            glyphs.push(PlacedGlyph {
                glyph,
                text: info.glyph.unicodes.iter().collect(),
                advance_em: advance / units_per_em,
                adjust: (own_advance - advance) * 1000.0 / units_per_em,
            });
        }
        if right_to_left {
            glyphs.reverse();
        }
        if record {
            let used = self.used.entry(face).or_default();
            for glyph in &glyphs {
                used.entry(glyph.glyph).or_insert_with(|| glyph.text.clone());
            }
        }
        Some(GlyphRun { face, glyphs })
    }

    /// Each face used, cut down to the glyphs used: the face's subset font program and the
    /// glyph numbering of the subset (original glyph -> subset glyph).
    pub fn subsets(&self) -> Vec<(FaceKey, Result<FaceSubset, String>)> {
        self.used.iter().map(|(key, glyphs)| (*key, self.subset(*key, glyphs))).collect()
    }

    fn subset(&self, key: FaceKey, glyphs: &BTreeMap<u16, String>) -> Result<FaceSubset, String> {
        let face = self.fonts.faces(key.weight).get(key.position).ok_or("no such face")?;
        let data = ReadScope::new(&face.bytes).read::<FontData<'_>>().map_err(|e| e.to_string())?;
        let provider = data.table_provider(face.index).map_err(|e| e.to_string())?;
        // Glyph 0 (.notdef) comes first; the subset numbers the glyphs in the order given.
        let ids: Vec<u16> = std::iter::once(0).chain(glyphs.keys().copied().filter(|g| *g != 0)).collect();
        let program = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
            .map_err(|e| format!("subsetting {}: {e}", face.path.display()))?;
        let numbering = ids.iter().enumerate().map(|(new, old)| (*old, new as u16)).collect();
        Ok(FaceSubset { program, numbering })
    }
}

/// A face cut down to the glyphs a document uses.
#[derive(Debug, Clone)]
pub struct FaceSubset {
    /// The font program (an sfnt).
    pub program: Vec<u8>,
    /// Original glyph id -> glyph id in `program`.
    pub numbering: BTreeMap<u16, u16>,
}

/// The OpenType script to shape `text` with: Arabic if it has Arabic letters, else the default.
fn script_of(text: &str) -> u32 {
    if text.chars().any(|c| matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}')) {
        tag::ARAB
    } else {
        tag::LATN
    }
}
