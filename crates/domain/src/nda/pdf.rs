//! The signed NDA as PDF: A4 pages of wrapped text, numbered, in `DejaVu Sans` embedded as a
//! subset (only the glyphs the document uses) with a `ToUnicode` map, both written by krilla. The
//! names of both parties are printed as typed in any script the font covers (Polish, Turkish,
//! Vietnamese, Greek, French typography…), and a reader's copy, search or text extraction gives
//! them back exactly. PDF's standard Helvetica knows only `WinAnsiEncoding`, where "Łódź" and
//! "œ" have no code at all.
//!
//! The output depends on its input only (no clock, no random id): the tenant's copy and the
//! customer's are the same bytes.

use crate::locale::Locale;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Data, Document};
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider as _;
use std::sync::LazyLock;

/// `DejaVu Sans` 2.37 (where it comes from and its licence: `assets/fonts/README.md`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The font as krilla uses it, read once: making one hashes the whole file.
static FONT: LazyLock<Option<Font>> = LazyLock::new(|| Font::new(Data::from(FONT_BYTES), 0));

/// A4, in points.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY_SIZE: f32 = 11.0;
const TITLE_SIZE: f32 = 14.0;
const FOOTER_SIZE: f32 = 9.0;
/// The distance between two baselines.
const LEADING: f32 = 15.0;
/// Lines on a page: ⌊(842 − 2 × 56) / 15⌋.
const LINES_PER_PAGE: usize = 48;
/// The title's outline, drawn over its fill: a bold face from the one font file shipped.
const TITLE_STROKE: f32 = 0.4;

/// Why a PDF could not be made. Neither depends on the document's text: the font is compiled
/// in and the tests render every script it is meant for.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font cannot be read")]
    Font,
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Title,
    Body,
}

/// One line of a page; an empty one is the space between paragraphs.
#[derive(Debug)]
struct Line {
    style: Style,
    text: String,
}

/// Advance widths from the font's own metrics, to break lines before the margin. Kerning,
/// which the shaper applies when drawing, only ever narrows `DejaVu Sans` lines a little.
struct Measure<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
}

impl Measure<'static> {
    fn new() -> Result<Self, PdfError> {
        let font = skrifa::FontRef::new(FONT_BYTES).map_err(|_| PdfError::Font)?;
        Ok(Self {
            charmap: font.charmap(),
            // At one unit per em: a width in points is this times the font size.
            metrics: font.glyph_metrics(Size::new(1.0), LocationRef::default()),
        })
    }
}

impl Measure<'_> {
    fn width(&self, text: &str, size: f32) -> f32 {
        let em: f32 = text
            .chars()
            .filter_map(|c| self.charmap.map(c))
            .filter_map(|g| self.metrics.advance_width(g))
            .sum();
        em * size
    }

    /// `text` in lines no wider than `max`, broken at spaces; a word wider than a whole line
    /// (a long hash, an address without spaces) is broken between characters. Other spaces
    /// (U+00A0, U+202F) never break, as French typography needs.
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let space = self.width(" ", size);
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut width = 0.0;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            for piece in self.pieces(word, size, max) {
                let w = self.width(&piece, size);
                if !line.is_empty() && width + space + w > max {
                    lines.push(std::mem::take(&mut line));
                    width = 0.0;
                }
                if !line.is_empty() {
                    line.push(' ');
                    width += space;
                }
                line.push_str(&piece);
                width += w;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// `word` cut into pieces no wider than `max` (itself when it fits). A combining mark has
    /// no advance of its own, so it stays with the letter it follows.
    fn pieces(&self, word: &str, size: f32, max: f32) -> Vec<String> {
        if self.width(word, size) <= max {
            return vec![word.to_owned()];
        }
        let mut pieces = Vec::new();
        let mut piece = String::new();
        let mut width = 0.0;
        for c in word.chars() {
            let mut buf = [0; 4];
            let w = self.width(c.encode_utf8(&mut buf), size);
            if !piece.is_empty() && width + w > max {
                pieces.push(std::mem::take(&mut piece));
                width = 0.0;
            }
            piece.push(c);
            width += w;
        }
        pieces.push(piece);
        pieces
    }
}

/// The title, then each paragraph, wrapped, with an empty line after each.
fn layout(measure: &Measure<'_>, title: &str, paragraphs: &[String]) -> Vec<Line> {
    let max = WIDTH - 2.0 * MARGIN;
    let mut lines = Vec::new();
    let blocks = std::iter::once((Style::Title, title))
        .chain(paragraphs.iter().map(|p| (Style::Body, p.as_str())));
    for (style, text) in blocks {
        let size = match style {
            Style::Title => TITLE_SIZE,
            Style::Body => BODY_SIZE,
        };
        for text in measure.wrap(text, size, max) {
            lines.push(Line { style, text });
        }
        lines.push(Line {
            style: Style::Body,
            text: String::new(),
        });
    }
    lines
}

/// One page's lines, from the top margin down, and its number (`2 / 3`) centred at the foot.
fn draw_page(
    surface: &mut Surface<'_>,
    font: &Font,
    measure: &Measure<'_>,
    lines: &[Line],
    number: (usize, usize),
) {
    surface.set_fill(Some(Fill::default()));
    let mut baseline = MARGIN;
    for line in lines {
        if !line.text.is_empty() {
            let (size, stroke) = match line.style {
                Style::Title => (
                    TITLE_SIZE,
                    Some(Stroke {
                        width: TITLE_STROKE,
                        ..Stroke::default()
                    }),
                ),
                Style::Body => (BODY_SIZE, None),
            };
            surface.set_stroke(stroke);
            let at = Point::from_xy(MARGIN, baseline);
            surface.draw_text(
                at,
                font.clone(),
                size,
                &line.text,
                false,
                TextDirection::Auto,
            );
        }
        baseline += LEADING;
    }
    surface.set_stroke(None);
    let label = format!("{} / {}", number.0, number.1);
    let x = (WIDTH - measure.width(&label, FOOTER_SIZE)) / 2.0;
    let at = Point::from_xy(x, HEIGHT - MARGIN / 2.0);
    surface.draw_text(
        at,
        font.clone(),
        FOOTER_SIZE,
        &label,
        false,
        TextDirection::LeftToRight,
    );
}

/// A text-only A4 PDF: `title` in bold, then `paragraphs`, wrapped at the margins and flowing
/// onto as many numbered pages as they need. `locale` is the document's language, recorded in
/// its metadata for screen readers, as is its title.
pub fn text_pdf(title: &str, locale: Locale, paragraphs: &[String]) -> Result<Vec<u8>, PdfError> {
    let font = FONT.clone().ok_or(PdfError::Font)?;
    let measure = Measure::new()?;
    let lines = layout(&measure, title, paragraphs);
    let pages: Vec<&[Line]> = lines.chunks(LINES_PER_PAGE).collect();
    let settings = PageSettings::from_wh(WIDTH, HEIGHT)
        .ok_or_else(|| PdfError::Write("the page size is not valid".to_owned()))?;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(title.to_owned())
            .language(locale.as_str().to_owned()),
    );
    for (index, page_lines) in pages.iter().enumerate() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        draw_page(
            &mut surface,
            &font,
            &measure,
            page_lines,
            (index + 1, pages.len()),
        );
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Write(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names a legal document must keep exactly, in the scripts the font is shipped for.
    const NAMES: [&str; 4] = [
        "Łódź Foods Sp. z o.o.",
        "Çağrı Gıda Sanayi A.Ş.",
        "Ελληνικά Τρόφιμα Α.Ε.",
        "Công ty TNHH Thực phẩm Việt",
    ];
    const ADDRESSES: [&str; 4] = [
        "ul. Piotrkowska 104, 90-004 Łódź",
        "Atatürk Bulvarı No: 12, Çankaya, Ankara",
        "Οδός Ερμού 25, Αθήνα 105 63",
        "Số 12 đường Lê Lợi, Quận 1, Thành phố Hồ Chí Minh",
    ];
    /// French with the ligature œ, guillemets and the narrow no-break space (U+202F) before
    /// `;`, `!` and `?`, and U+00A0 before `:`.
    const FRENCH: &str =
        "Les informations confidentielles (« données\u{202f}») restent protégées\u{202f}; \
        l’œuvre et le cœur du contrat\u{a0}: Maître Chloë Bœuf, sœur de l’Hôtel-Dieu\u{202f}!";

    /// The document's text as a reader extracts it, each page's lines joined by spaces, with
    /// runs of whitespace made one space (nothing else is normalised).
    fn extracted(pdf: &[u8]) -> Vec<String> {
        let doc = lopdf::Document::load_mem(pdf).expect("a PDF lopdf reads");
        doc.get_pages()
            .keys()
            .map(|n| {
                let text = doc.extract_text(&[*n]).expect("text extracts");
                text.split([' ', '\n', '\r', '\t'])
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn paragraphs() -> Vec<String> {
        let mut paras = vec![FRENCH.to_owned()];
        for (name, address) in NAMES.iter().zip(ADDRESSES) {
            paras.push(format!(
                "Between Northwind Lending Ltd and {name}, {address}."
            ));
            paras.push(format!("Signed for {name} by its representative."));
        }
        paras
    }

    #[test]
    fn names_in_every_script_come_back_exactly() {
        let pdf = text_pdf("Mutual non-disclosure agreement", Locale::En, &paragraphs()).unwrap();
        let text = extracted(&pdf).join(" ");
        for expected in NAMES.iter().chain(&ADDRESSES).chain(&[FRENCH]) {
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
        assert!(!text.contains('?'), "no character was replaced: {text}");
        // Every character has a glyph of its own in the font (no missing-glyph box).
        let measure = Measure::new().unwrap();
        for c in paragraphs().iter().flat_map(|p| p.chars()) {
            assert!(measure.charmap.map(c).is_some(), "{c:?} has no glyph");
        }
    }

    #[test]
    fn the_font_is_embedded_as_a_subset_with_a_unicode_map() {
        let pdf = text_pdf(
            "Accord de confidentialité mutuel",
            Locale::Fr,
            &paragraphs(),
        )
        .unwrap();
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let fonts: Vec<&lopdf::Dictionary> = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| d.get(b"Type").and_then(lopdf::Object::as_name).ok() == Some(b"Font"))
            .collect();
        let composite: Vec<_> = fonts
            .iter()
            .filter(|d| d.get(b"Subtype").and_then(lopdf::Object::as_name).ok() == Some(b"Type0"))
            .collect();
        assert_eq!(composite.len(), 1, "one font: {fonts:?}");
        let base = composite[0].get(b"BaseFont").unwrap().as_name().unwrap();
        let base = std::str::from_utf8(base).unwrap();
        let (tag, name) = base.split_once('+').expect("a subset tag");
        assert!(
            tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()),
            "{base}"
        );
        assert_eq!(name, "DejaVuSans");
        assert!(composite[0].has(b"ToUnicode"));
        // The font program itself is in the file, and it is far smaller than the whole font.
        let program = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .find_map(|d| d.get(b"FontFile2").ok())
            .expect("an embedded TrueType program");
        let stream = doc
            .get_object(program.as_reference().unwrap())
            .unwrap()
            .as_stream()
            .unwrap();
        let bytes = stream.decompressed_content().unwrap();
        assert!(
            bytes.len() < FONT_BYTES.len() / 10,
            "subset: {} bytes of {}",
            bytes.len(),
            FONT_BYTES.len()
        );
        assert!(
            pdf.len() < 64 * 1024,
            "a few pages stay small: {} bytes",
            pdf.len()
        );
        assert!(!pdf.windows(9).any(|w| w == b"Helvetica"));
    }

    #[test]
    fn long_documents_flow_onto_numbered_pages() {
        let paras: Vec<String> = (0..80)
            .map(|i| format!("Clause {i}. {}", NAMES[i % NAMES.len()]))
            .collect();
        let pdf = text_pdf("Mutual non-disclosure agreement", Locale::En, &paras).unwrap();
        let pages = extracted(&pdf);
        assert!(pages.len() > 2, "{} pages", pages.len());
        let n = pages.len();
        for (i, page) in pages.iter().enumerate() {
            assert!(
                page.ends_with(&format!("{} / {n}", i + 1)),
                "page {i} is numbered: {page}"
            );
        }
        let all = pages.join(" ");
        for (i, p) in paras.iter().enumerate() {
            assert!(all.contains(p.as_str()), "clause {i} is kept whole");
        }
        assert!(pages[0].starts_with("Mutual non-disclosure agreement Clause 0."));
    }

    #[test]
    fn lines_stay_within_the_margins() {
        let measure = Measure::new().unwrap();
        let max = WIDTH - 2.0 * MARGIN;
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let long = format!(
            "{} {hash}{hash}{hash} {}",
            FRENCH.repeat(3),
            NAMES.join(" ")
        );
        let lines = measure.wrap(&long, BODY_SIZE, max);
        assert!(lines.len() > 5);
        for line in &lines {
            assert!(measure.width(line, BODY_SIZE) <= max, "{line}");
        }
        // Nothing lost or added but the breaks.
        let joined: String = lines.concat();
        let without_spaces = |s: &str| s.replace(' ', "");
        assert_eq!(without_spaces(&joined), without_spaces(&long));
        // U+202F and U+00A0 never start a line.
        assert!(lines
            .iter()
            .all(|l| !l.starts_with(['\u{202f}', '\u{a0}', ';', '!', ':'])));
    }

    #[test]
    fn the_same_document_is_the_same_bytes() {
        let a = text_pdf("Titre", Locale::Fr, &paragraphs()).unwrap();
        let b = text_pdf("Titre", Locale::Fr, &paragraphs()).unwrap();
        assert_eq!(a, b);
        let c = text_pdf("Titre", Locale::Fr, &paragraphs()[1..]).unwrap();
        assert_ne!(a, c);
    }
}
