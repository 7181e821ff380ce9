//! Turning an [`EvalReport`] into something a person reads: a terminal summary, and a Markdown
//! report with a PNG confusion-matrix heatmap beside it.
//!
//! Labels are usually Chinese department names, which need a CJK font to draw. No font ships with
//! the crate; fonts are looked up at run time (see [`find_fonts`]) and the heatmap degrades to
//! numbered axes, then to no text at all, when none is available.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontFamily, FontStyle, FontTransform};

use super::metrics::EvalReport;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: drawing a chart failed: {reason}")]
    Plot { path: PathBuf, reason: String },
}

// ---------------------------------------------------------------------------------------------
// Text widths. Terminals give CJK characters two columns; counting chars alone misaligns every
// Chinese label, counting bytes triples it.

fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD);
    if c < 0x20 || (0x300..=0x36F).contains(&c) || c == 0x200B {
        0
    } else if wide {
        2
    } else {
        1
    }
}

fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` cut to at most `max` columns, with an ellipsis when something was cut.
fn truncate_width(s: &str, max: usize) -> String {
    if display_width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

fn pad_right(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn pad_left(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}

/// Longest label shown in full in the terminal; department names rarely pass it.
const TEXT_LABEL_WIDTH: usize = 24;
/// Row headers of the text confusion matrix are shorter: the counts matter there.
const MATRIX_LABEL_WIDTH: usize = 14;

/// Plain-text summary for the terminal: headline metrics, the review line, the per-class table
/// and the confusion matrix (columns by 1-based label number; row headers carry the names).
pub fn render_text(report: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "n {}   accuracy {:.3}   macro-F1 {:.3}   weighted-F1 {:.3}   top-3 {:.3}   ECE {:.3}",
        report.n, report.accuracy, report.macro_f1, report.weighted_f1, report.top3_accuracy, report.ece
    );
    if let Some(a) = &report.abstain {
        let _ = writeln!(
            s,
            "review (confidence < {:.2} or margin < {:.2}): {:.1}% dispatched automatically at accuracy {:.3}, {} flagged; accuracy on all {:.3}",
            a.policy.min_confidence,
            a.policy.min_margin,
            a.coverage * 100.0,
            a.accuracy_covered,
            a.reviewed,
            a.accuracy_all
        );
    }
    let k = report.labels.len();
    if k == 0 {
        s.push_str("(no labels)\n");
        return s;
    }

    let num_w = k.to_string().len();
    let names: Vec<String> = report.labels.iter().map(|l| truncate_width(l, TEXT_LABEL_WIDTH)).collect();
    let name_w = names.iter().map(|n| display_width(n)).max().unwrap_or(0).max("label".len());
    let _ = writeln!(s, "\n{} {}  precision  recall      f1  support", pad_left("#", num_w), pad_right("label", name_w));
    for (i, name) in names.iter().enumerate() {
        let (p, r, f, sup) = report.per_class.get(i).map(|m| (m.precision, m.recall, m.f1, m.support)).unwrap_or_default();
        let _ = writeln!(s, "{} {}  {:>9.3}  {:>6.3}  {:>6.3}  {:>7}", pad_left(&(i + 1).to_string(), num_w), pad_right(name, name_w), p, r, f, sup);
    }

    let max_count = report.confusion.iter().flatten().copied().max().unwrap_or(0);
    let cell_w = max_count.to_string().len().max(num_w) + 1;
    let row_names: Vec<String> = report.labels.iter().map(|l| truncate_width(l, MATRIX_LABEL_WIDTH)).collect();
    let row_w = row_names.iter().map(|n| display_width(n)).max().unwrap_or(0);
    let _ = writeln!(s, "\nconfusion matrix (rows: gold; columns: predicted, by number above)");
    let mut header = format!("{} {}", " ".repeat(num_w), " ".repeat(row_w));
    for j in 0..k {
        header.push_str(&pad_left(&(j + 1).to_string(), cell_w));
    }
    let _ = writeln!(s, "{}", header.trim_end());
    for (i, name) in row_names.iter().enumerate() {
        let mut line = format!("{} {}", pad_left(&(i + 1).to_string(), num_w), pad_right(name, row_w));
        for j in 0..k {
            let c = report.confusion.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
            line.push_str(&pad_left(&c.to_string(), cell_w));
        }
        let _ = writeln!(s, "{line}");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Fonts.

/// Font file names that, in the usual Linux packages, carry CJK glyphs.
const CJK_NAME_HINTS: [&str; 6] = ["cjk", "droid", "wqy", "hei", "song", "uming"];
const DROID_FALLBACK: &str = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf";
const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT_ROOT: &str = "/usr/share/fonts";

/// A font file registered with plotters under `family`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FontFile {
    pub family: String,
    pub path: PathBuf,
}

/// The fonts text is drawn with, per character: CJK fallback fonts such as Droid Sans Fallback
/// have no Latin letters or digits, and DejaVu Sans has no Han, so each run of text goes to the
/// font that covers it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fonts {
    /// DejaVu Sans: Latin, Greek, Cyrillic, digits.
    pub latin: Option<FontFile>,
    /// The first CJK candidate found (a font named by `TRIAGE_REPORT_FONT` is assumed to be one).
    pub cjk: Option<FontFile>,
}

fn font_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 0 {
                font_files(&p, depth - 1, out);
            }
        } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "ttf" | "ttc" | "otf")) {
            out.push(p);
        }
    }
}

/// plotters' ab_glyph backend keeps fonts in a process-wide table and wants `'static` bytes, so
/// each file is read and leaked once per process (a few MB) and remembered by path.
fn register(path: &Path) -> Option<FontFile> {
    static REGISTERED: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let mut map = REGISTERED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let family = match map.get(path) {
        Some(known) => known.clone(),
        None => {
            let family = format!("hotline-triage-font-{}", map.len());
            let registered = std::fs::read(path).ok().and_then(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font(&family, FontStyle::Normal, bytes).ok().map(|_| family)
            });
            if registered.is_none() {
                tracing::warn!("{}: not a usable font, skipped", path.display());
            }
            map.insert(path.to_path_buf(), registered.clone());
            registered
        }
    };
    family.map(|family| FontFile { family, path: path.to_path_buf() })
}

/// CJK: `TRIAGE_REPORT_FONT`, then Droid Sans Fallback, then any font under /usr/share/fonts whose
/// file name suggests CJK coverage. Latin: DejaVu Sans.
pub(crate) fn find_fonts() -> Fonts {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("TRIAGE_REPORT_FONT").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(PathBuf::from(DROID_FALLBACK));
    let mut found = Vec::new();
    font_files(Path::new(FONT_ROOT), 6, &mut found);
    found.retain(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        CJK_NAME_HINTS.iter().any(|h| name.contains(h))
    });
    // Sorted so that two machines with the same fonts draw the same picture.
    found.sort();
    candidates.extend(found);
    let cjk = candidates.iter().filter(|p| p.is_file()).find_map(|p| register(p));
    let dejavu = Path::new(DEJAVU);
    let latin = if dejavu.is_file() { register(dejavu) } else { None };
    Fonts { latin, cjk }
}

/// Scripts DejaVu Sans covers: Latin, Greek, Cyrillic (and the ellipsis used to cut labels).
fn latin_char(c: char) -> bool {
    (c as u32) < 0x250 || (0x370..=0x52F).contains(&(c as u32)) || c == '…'
}

impl Fonts {
    pub(crate) fn any(&self) -> bool {
        self.latin.is_some() || self.cjk.is_some()
    }

    /// Whether every label can be drawn legibly.
    fn can_draw_all(&self, labels: &[String]) -> bool {
        self.cjk.is_some() || (self.latin.is_some() && labels.iter().all(|l| l.chars().all(latin_char)))
    }

    fn family_for(&self, c: char) -> Option<&str> {
        let (first, second) = if latin_char(c) { (&self.latin, &self.cjk) } else { (&self.cjk, &self.latin) };
        first.as_ref().or(second.as_ref()).map(|f| f.family.as_str())
    }

    /// `text` split into maximal runs drawn with one font.
    fn runs<'t>(&self, text: &'t str) -> Vec<(&str, &'t str)> {
        let mut out: Vec<(&str, &'t str)> = Vec::new();
        let mut start = 0;
        let mut current: Option<&str> = None;
        for (i, c) in text.char_indices() {
            let f = self.family_for(c);
            if f != current {
                if let Some(fam) = current {
                    out.push((fam, &text[start..i]));
                }
                start = i;
                current = f;
            }
        }
        if let Some(fam) = current {
            out.push((fam, &text[start..]));
        }
        out
    }

    pub(crate) fn width(&self, size: f64, text: &str) -> u32 {
        self.runs(text).iter().map(|(fam, run)| run_width(fam, size, run)).sum()
    }
}

fn run_width(family: &str, size: f64, text: &str) -> u32 {
    FontDesc::new(FontFamily::Name(family), size, FontStyle::Normal).box_size(text).map(|(w, _)| w).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Heatmap layout and drawing.

pub(crate) const TICK_FONT: f64 = 13.0;
pub(crate) const TITLE_FONT: f64 = 15.0;
/// Longest axis label in pixels; longer names are cut with an ellipsis.
const MAX_LABEL_PX: u32 = 200;
const MAX_CELL_TEXT_CLASSES: usize = 40;
const COLOURBAR_W: i32 = 14;

/// Everything decided before a pixel is drawn, so the image size is known up front.
#[derive(Debug, Clone)]
pub(crate) struct HeatmapLayout {
    pub width: u32,
    pub height: u32,
    cell: u32,
    left: u32,
    top: u32,
    /// Text for the axes: label names or 1-based numbers; empty when there is no font.
    ticks: Vec<String>,
    tick_extent: u32,
    pub names_on_axes: bool,
    pub fonts: Fonts,
}

fn cell_size(k: usize) -> u32 {
    if k == 0 {
        return 40;
    }
    let k = k as u32;
    let cell = (720 / k).clamp(1, 56);
    // Past ~50 classes readable cells would make a huge image; shrink towards a 2400 px matrix.
    if cell < 14 {
        (2400 / k).clamp(1, 14)
    } else {
        cell
    }
}

fn fit_label(fonts: &Fonts, label: &str) -> String {
    if fonts.width(TICK_FONT, label) <= MAX_LABEL_PX {
        return label.to_string();
    }
    let chars: Vec<char> = label.chars().collect();
    for keep in (1..chars.len()).rev() {
        let s: String = chars[..keep].iter().chain(std::iter::once(&'…')).collect();
        if fonts.width(TICK_FONT, &s) <= MAX_LABEL_PX {
            return s;
        }
    }
    "…".to_string()
}

pub(crate) fn plan_heatmap(report: &EvalReport, fonts: Fonts) -> HeatmapLayout {
    let k = report.labels.len();
    let cell = cell_size(k);
    let names_on_axes = fonts.can_draw_all(&report.labels);
    let (ticks, tick_extent) = if !fonts.any() {
        (Vec::new(), 0)
    } else {
        let ticks: Vec<String> = if names_on_axes {
            report.labels.iter().map(|l| fit_label(&fonts, l)).collect()
        } else {
            (1..=k).map(|i| i.to_string()).collect()
        };
        let extent = ticks.iter().map(|t| fonts.width(TICK_FONT, t)).max().unwrap_or(0).min(MAX_LABEL_PX);
        (ticks, extent)
    };
    // Room for: the rotated "gold" title, tick labels, and gaps; the colour bar and its
    // percentages on the right; the title on top; ticks and "predicted" below.
    let left = 28 + tick_extent + 8;
    let top = 40;
    let right = 16 + COLOURBAR_W as u32 + 6 + 44;
    let bottom = 8 + tick_extent + 30;
    let side = cell * k as u32;
    HeatmapLayout {
        width: (left + side + right).max(360),
        height: top + side + bottom,
        cell,
        left,
        top,
        ticks,
        tick_extent,
        names_on_axes,
        fonts,
    }
}

/// Where a piece of text sits relative to its anchor point.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Centre,
    End,
}

/// Draws `text` run by run, each in the font that covers it, vertically centred on `pos`.
/// `upright == false` turns it 90° anticlockwise (reading bottom to top); `anchor` is then
/// along that direction, so `End` puts the end of the text at `pos`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_runs(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    fonts: &Fonts,
    text: &str,
    size: f64,
    colour: &RGBColor,
    anchor: Anchor,
    pos: (i32, i32),
    upright: bool,
) -> Result<(), String> {
    let runs = fonts.runs(text);
    let widths: Vec<i32> = runs.iter().map(|(fam, run)| run_width(fam, size, run) as i32).collect();
    let total: i32 = widths.iter().sum();
    let mut offset = match anchor {
        Anchor::Start => 0,
        Anchor::Centre => -total / 2,
        Anchor::End => -total,
    };
    for ((fam, run), w) in runs.iter().zip(widths) {
        let style = FontDesc::new(FontFamily::Name(fam), size, FontStyle::Normal).color(colour).pos(Pos::new(HPos::Left, VPos::Center));
        let (style, at) = if upright {
            (style, (pos.0 + offset, pos.1))
        } else {
            (style.transform(FontTransform::Rotate270), (pos.0, pos.1 - offset))
        };
        root.draw_text(run, &style, at).map_err(|e| e.to_string())?;
        offset += w;
    }
    Ok(())
}

/// matplotlib's "Blues", three stops: the share of a gold row that went to a cell.
pub(crate) fn blues(share: f64) -> RGBColor {
    let stops = [(247.0, 251.0, 255.0), (107.0, 174.0, 214.0), (8.0, 48.0, 107.0)];
    let t = if share.is_finite() { share.clamp(0.0, 1.0) * 2.0 } else { 0.0 };
    let (a, b, f) = if t <= 1.0 { (stops[0], stops[1], t) } else { (stops[1], stops[2], t - 1.0) };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws the row-normalised confusion heatmap to `path` as laid out by `layout`.
pub(crate) fn draw_heatmap(report: &EvalReport, layout: &HeatmapLayout, path: &Path) -> Result<(), ReportError> {
    draw_heatmap_titled(report, layout, path, &AxisTitles::CONFUSION)
}

/// What a heatmap's title and axes say.
pub(crate) struct AxisTitles<'a> {
    pub title: &'a str,
    pub rows: &'a str,
    pub columns: &'a str,
}

impl AxisTitles<'static> {
    pub const CONFUSION: AxisTitles<'static> = AxisTitles { title: "confusion matrix: share of each gold row", rows: "gold", columns: "predicted" };
    pub const TRANSITIONS: AxisTitles<'static> = AxisTitles { title: "reclassification: share of each old department's rows", rows: "old", columns: "new" };
}

fn draw_heatmap_titled(report: &EvalReport, layout: &HeatmapLayout, path: &Path, titles: &AxisTitles) -> Result<(), ReportError> {
    let plot_err = |e: &dyn std::fmt::Display| ReportError::Plot { path: path.to_path_buf(), reason: e.to_string() };
    let root = BitMapBackend::new(path, (layout.width, layout.height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;

    let k = report.labels.len();
    let (cell, left, top) = (layout.cell as i32, layout.left as i32, layout.top as i32);
    let side = cell * k as i32;
    let count = |i: usize, j: usize| report.confusion.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    for i in 0..k {
        let row_total: usize = (0..k).map(|j| count(i, j)).sum();
        for j in 0..k {
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            // A gold class with no examples has no shares: grey, not "0%".
            let colour = if row_total == 0 { RGBColor(225, 225, 225) } else { blues(count(i, j) as f64 / row_total as f64) };
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour.filled())).map_err(|e| plot_err(&e))?;
        }
    }
    if cell >= 6 && k > 0 {
        let frame = RGBColor(200, 200, 200);
        root.draw(&Rectangle::new([(left, top), (left + side, top + side)], frame.stroke_width(1))).map_err(|e| plot_err(&e))?;
    }

    // Colour bar: 0% at the bottom, 100% at the top.
    let bar_x = left + side + 16;
    let bar_h = side.max(100);
    for y in 0..bar_h {
        let share = 1.0 - y as f64 / (bar_h - 1).max(1) as f64;
        root.draw(&Rectangle::new([(bar_x, top + y), (bar_x + COLOURBAR_W, top + y + 1)], blues(share).filled())).map_err(|e| plot_err(&e))?;
    }

    let fonts = &layout.fonts;
    if !fonts.any() {
        return root.present().map_err(|e| plot_err(&e));
    }
    let text = |t: &str, size: f64, colour: &RGBColor, anchor: Anchor, pos: (i32, i32), upright: bool| {
        draw_runs(&root, fonts, t, size, colour, anchor, pos, upright).map_err(|e| plot_err(&e))
    };

    text(titles.title, TITLE_FONT, &BLACK, Anchor::Start, (8, top / 2), true)?;
    for (i, t) in layout.ticks.iter().enumerate() {
        let mid = i as i32 * cell + cell / 2;
        text(t, TICK_FONT, &BLACK, Anchor::End, (left - 6, top + mid), true)?;
        // Rotated so long names fit under narrow columns; they end at the matrix, as in matplotlib.
        text(t, TICK_FONT, &BLACK, Anchor::End, (left + mid, top + side + 6), false)?;
    }
    text(titles.columns, TICK_FONT, &BLACK, Anchor::Centre, (left + side / 2, top + side + 8 + layout.tick_extent as i32 + 14), true)?;
    text(titles.rows, TICK_FONT, &BLACK, Anchor::Centre, (14, top + side / 2), false)?;
    for (share, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let y = top + ((1.0 - share) * (bar_h - 1) as f64) as i32;
        text(label, TICK_FONT, &BLACK, Anchor::Start, (bar_x + COLOURBAR_W + 5, y), true)?;
    }

    if k <= MAX_CELL_TEXT_CLASSES && cell >= 12 {
        let size = (cell as f64 * 0.38).clamp(7.0, 14.0);
        for i in 0..k {
            let row_total: usize = (0..k).map(|j| count(i, j)).sum();
            for j in 0..k {
                let c = count(i, j);
                let share = if row_total == 0 { 0.0 } else { c as f64 / row_total as f64 };
                let colour = if share > 0.55 { WHITE } else { BLACK };
                let centre = (left + j as i32 * cell + cell / 2, top + i as i32 * cell + cell / 2);
                text(&c.to_string(), size, &colour, Anchor::Centre, centre, true)?;
            }
        }
    }
    root.present().map_err(|e| plot_err(&e))
}

// ---------------------------------------------------------------------------------------------
// Markdown.

/// `YYYY-MM-DD` (UTC) for days since 1970-01-01, after Howard Hinnant's `civil_from_days`.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_date((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Labels and titles are free text: a `|` would split a table cell, a newline end the row.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn render_markdown(report: &EvalReport, title: &str, layout: &HeatmapLayout, extra_markdown: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n\nGenerated {}.\n", title.replace(['\n', '\r'], " "), today());
    let _ = writeln!(s, "| metric | value |\n|---|---|");
    let _ = writeln!(s, "| examples | {} |", report.n);
    let _ = writeln!(s, "| accuracy | {:.4} |", report.accuracy);
    let _ = writeln!(s, "| macro-F1 | {:.4} |", report.macro_f1);
    let _ = writeln!(s, "| weighted-F1 | {:.4} |", report.weighted_f1);
    let _ = writeln!(s, "| top-3 accuracy | {:.4} |", report.top3_accuracy);
    let _ = writeln!(s, "| ECE (15 bins) | {:.4} |", report.ece);
    let _ = writeln!(s, "| classes | {} |\n", report.labels.len());

    if let Some(a) = &report.abstain {
        let _ = writeln!(
            s,
            "## Review policy\n\n\
             A prediction is flagged for review when its top probability is below {:.2} or the top two \
             are within {:.2}. On this split that dispatches **{:.1}%** automatically at accuracy \
             **{:.4}**, and flags {} case(s); accuracy over every case is {:.4}.\n",
            a.policy.min_confidence,
            a.policy.min_margin,
            a.coverage * 100.0,
            a.accuracy_covered,
            a.reviewed,
            a.accuracy_all
        );
    }

    let _ = writeln!(s, "## Per class\n\n| # | label | precision | recall | F1 | support |\n|---:|---|---:|---:|---:|---:|");
    for (i, m) in report.per_class.iter().enumerate() {
        let _ = writeln!(s, "| {} | {} | {:.3} | {:.3} | {:.3} | {} |", i + 1, md_cell(&m.label), m.precision, m.recall, m.f1, m.support);
    }

    let k = report.labels.len();
    let _ = writeln!(s, "\n## Confusion matrix\n\nRows are gold labels, columns predicted labels, numbered as in the table above; the diagonal is in bold.\n");
    if k == 0 {
        s.push_str("(no labels)\n");
    } else {
        s.push_str("| gold \\ predicted |");
        for j in 1..=k {
            let _ = write!(s, " {j} |");
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(k));
        s.push('\n');
        for i in 0..k {
            let _ = write!(s, "| {} {} |", i + 1, md_cell(&report.labels[i]));
            for j in 0..k {
                let c = report.confusion.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
                if i == j {
                    let _ = write!(s, " **{c}** |");
                } else {
                    let _ = write!(s, " {c} |");
                }
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "\n![confusion matrix](confusion.png)\n");
    let font_list = |f: &Fonts| [&f.cjk, &f.latin].iter().filter_map(|x| x.as_ref()).map(|x| format!("`{}`", x.path.display())).collect::<Vec<_>>().join(" and ");
    let note = if !layout.fonts.any() {
        "No font was found on this machine, so the heatmap has no text (no axis labels, no counts). \
         Set `TRIAGE_REPORT_FONT` to a CJK .ttf file to get them."
            .to_string()
    } else if layout.names_on_axes {
        format!("Colour is the share of the gold row; text drawn with {}.", font_list(&layout.fonts))
    } else {
        format!(
            "Colour is the share of the gold row. No CJK font was found, so the axes are numbered as in the per-class \
             table (text drawn with {}); set `TRIAGE_REPORT_FONT` to a CJK .ttf to get label names.",
            font_list(&layout.fonts)
        )
    };
    let _ = writeln!(s, "{note}{}", if k > MAX_CELL_TEXT_CLASSES { " Cell counts are left out above 40 classes." } else { "" });
    if !extra_markdown.is_empty() {
        s.push('\n');
        s.push_str(extra_markdown);
        if !extra_markdown.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// A row-normalised heatmap of any square count matrix (`counts[from][to]`), drawn like the
/// confusion matrix: the batch job uses it for old-label -> new-label transitions.
pub fn write_count_heatmap(labels: &[String], counts: &[Vec<usize>], path: &Path) -> Result<(), ReportError> {
    let n = counts.iter().flatten().sum();
    let report = EvalReport {
        n,
        accuracy: 0.0,
        macro_f1: 0.0,
        weighted_f1: 0.0,
        top3_accuracy: 0.0,
        ece: 0.0,
        labels: labels.to_vec(),
        per_class: Vec::new(),
        confusion: counts.to_vec(),
        abstain: None,
    };
    let layout = plan_heatmap(&report, find_fonts());
    draw_heatmap_titled(&report, &layout, path, &AxisTitles::TRANSITIONS)
}

/// Writes `dir/confusion.png` and `dir/report.md` (creating `dir`); returns the path of report.md.
pub fn write_report(report: &EvalReport, dir: &Path, title: &str, extra_markdown: &str) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let layout = plan_heatmap(report, find_fonts());
    draw_heatmap(report, &layout, &dir.join("confusion.png"))?;
    let md = dir.join("report.md");
    std::fs::write(&md, render_markdown(report, title, &layout, extra_markdown)).map_err(|source| ReportError::Io { path: md.clone(), source })?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::calibration::{abstain_report, ReviewPolicy};
    use crate::training::metrics::evaluate;

    const LABELS: [&str; 7] = ["城乡建设", "环境保护", "交通运输", "人力资源和社会保障局", "卫生计生", "商贸旅游", "教育文体"];

    fn seven_class_report() -> EvalReport {
        let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
        let mut gold = Vec::new();
        let mut probs = Vec::new();
        for i in 0..140usize {
            let g = i % 7;
            // Mostly right, some confusion with the next class.
            let p = if i % 5 == 0 { (g + 1) % 7 } else { g };
            let mut row = vec![0.02f32; 7];
            row[p] = 0.88;
            gold.push(g);
            probs.push(row);
        }
        let mut r = evaluate(&labels, &gold, &probs);
        r.abstain = Some(abstain_report(&gold, &probs, ReviewPolicy { min_confidence: 0.5, min_margin: 0.1 }));
        r
    }

    /// Width and height from a PNG's IHDR, after checking the signature.
    fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&b[12..16], b"IHDR");
        (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
    }

    #[test]
    fn widths_count_cjk_as_two_columns() {
        assert_eq!(display_width("城乡建设"), 8);
        assert_eq!(display_width("abc"), 3);
        assert_eq!(truncate_width("人力资源和社会保障局", 9), "人力资源…");
        assert_eq!(display_width(&truncate_width("人力资源和社会保障局", 9)), 9);
        assert_eq!(truncate_width("short", 9), "short");
    }

    #[test]
    fn text_table_aligns_chinese_and_latin_labels() {
        let labels: Vec<String> = ["城乡建设", "other", "人力资源和社会保障局"].iter().map(|s| s.to_string()).collect();
        let r = evaluate(&labels, &[0, 1, 2, 2], &[vec![0.9, 0.05, 0.05], vec![0.1, 0.8, 0.1], vec![0.1, 0.1, 0.8], vec![0.6, 0.3, 0.1]]);
        let text = render_text(&r);
        assert!(text.contains("accuracy 0.750"), "{text}");
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("城乡建设") || l.contains(" other ") || l.contains("人力资源")).collect();
        // Three per-class rows and three matrix rows, each group the same width on screen.
        assert_eq!(rows.len(), 6, "{text}");
        assert!(rows[..3].iter().all(|l| display_width(l) == display_width(rows[0])), "{text}");
        assert!(rows[3..].iter().all(|l| display_width(l) == display_width(rows[3])), "{text}");
        // The matrix row of 人力资源… ends with its counts: one to 城乡建设, none to other, one right.
        assert!(rows[5].ends_with(" 1 0 1"), "{text}");
    }

    #[test]
    fn render_text_shows_the_review_line_and_survives_empty_reports() {
        let r = seven_class_report();
        let text = render_text(&r);
        assert!(text.contains("review (confidence < 0.50 or margin < 0.10)"), "{text}");
        let empty = evaluate(&[], &[], &[]);
        assert!(render_text(&empty).contains("no labels"));
    }

    #[test]
    fn write_report_writes_markdown_and_a_png_of_the_planned_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = seven_class_report();
        let out = dir.path().join("nested/report");
        let md_path = write_report(&r, &out, "dev | 7 classes", "## Training\n\nepochs: 3\n").unwrap();
        assert_eq!(md_path, out.join("report.md"));
        let md = std::fs::read_to_string(&md_path).unwrap();
        assert!(md.starts_with("# dev | 7 classes\n\nGenerated 20"), "{md}");
        assert!(md.contains("![confusion matrix](confusion.png)"));
        assert!(md.contains("| 4 | 人力资源和社会保障局 |"), "{md}");
        assert!(md.contains("## Review policy"));
        assert!(md.ends_with("## Training\n\nepochs: 3\n"));
        // Diagonal of the first row: 16 of 20 right (every fifth moved to the next class).
        assert!(md.contains("| 1 城乡建设 | **16** | 4 |"), "{md}");

        let layout = plan_heatmap(&r, find_fonts());
        let (w, h) = png_size(&out.join("confusion.png"));
        assert_eq!((w, h), (layout.width, layout.height));
        assert!(w >= 7 * 56 && h >= 7 * 56, "{w}x{h}");
        eprintln!("7-class heatmap {w}x{h}, fonts {:?}, names on axes: {}", layout.fonts, layout.names_on_axes);
    }

    #[test]
    fn heatmap_without_any_font_is_still_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let r = seven_class_report();
        let layout = plan_heatmap(&r, Fonts::default());
        assert!(!layout.names_on_axes && layout.ticks.is_empty());
        let p = dir.path().join("plain.png");
        draw_heatmap(&r, &layout, &p).unwrap();
        assert_eq!(png_size(&p), (layout.width, layout.height));
        assert!(render_markdown(&r, "t", &layout, "").contains("No font was found"));
    }

    #[test]
    fn empty_and_large_reports_draw() {
        let dir = tempfile::tempdir().unwrap();
        let empty = evaluate(&[], &[], &[]);
        write_report(&empty, &dir.path().join("empty"), "empty", "").unwrap();
        assert!(png_size(&dir.path().join("empty/confusion.png")).0 > 0);

        // 60 classes, one of them never seen in gold: no cell text, grey row, no panic.
        let labels: Vec<String> = (0..60).map(|i| format!("类别{i}")).collect();
        let gold: Vec<usize> = (0..300).map(|i| i % 59).collect();
        let probs: Vec<Vec<f32>> = gold.iter().map(|&g| (0..60).map(|j| if j == g { 0.5 } else { f32::NAN }).collect()).collect();
        let r = evaluate(&labels, &gold, &probs);
        let md = write_report(&r, &dir.path().join("big"), "big", "").unwrap();
        let (w, h) = png_size(&dir.path().join("big/confusion.png"));
        assert!(w >= 60 * 14 && h >= 60 * 14 && w < 4000, "{w}x{h}");
        assert!(std::fs::read_to_string(md).unwrap().contains("Cell counts are left out"));
    }

    #[test]
    fn text_is_split_into_runs_per_font() {
        let file = |f: &str| Some(FontFile { family: f.into(), path: PathBuf::from(f) });
        let both = Fonts { latin: file("L"), cjk: file("C") };
        assert_eq!(both.runs("12 城乡a…"), vec![("L", "12 "), ("C", "城乡"), ("L", "a…")]);
        let cjk_only = Fonts { latin: None, cjk: file("C") };
        assert_eq!(cjk_only.runs("12 城乡"), vec![("C", "12 城乡")]);
        assert!(Fonts::default().runs("城乡").is_empty());
        let latin_only = Fonts { latin: file("L"), cjk: None };
        assert!(latin_only.can_draw_all(&["roads".into(), "Água".into()]));
        assert!(!latin_only.can_draw_all(&["roads".into(), "城乡建设".into()]));
        assert!(cjk_only.can_draw_all(&["城乡建设".into()]));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(19_723), (2024, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }

    #[test]
    fn markdown_cells_escape_pipes() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    }
}
