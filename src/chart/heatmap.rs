//! The one heat-map drawer: a confusion matrix (`triage eval`), old -> new departments
//! (`triage batch`) and cases by topic and district (`triage hotspots`) are all a [`CountMatrix`]
//! drawn by [`draw`], laid out first by [`plan`] so the image size is known up front.

use std::path::Path;

use plotters::prelude::*;

use super::fonts::{draw_runs, Anchor, Fonts, TICK_FONT, TITLE_FONT};
use super::ReportError;

/// Counts over row labels x column labels (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct CountMatrix {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    counts: Vec<usize>,
}

impl CountMatrix {
    pub fn zeros(rows: Vec<String>, columns: Vec<String>) -> Self {
        let counts = vec![0; rows.len() * columns.len()];
        CountMatrix { rows, columns, counts }
    }

    /// A square matrix over `labels` from nested rows (`counts[row][column]`); missing entries
    /// count 0 and entries past the labels are ignored.
    pub fn square(labels: &[String], counts: &[Vec<usize>]) -> Self {
        let mut m = CountMatrix::zeros(labels.to_vec(), labels.to_vec());
        for (i, row) in counts.iter().enumerate().take(labels.len()) {
            for (j, &c) in row.iter().enumerate().take(labels.len()) {
                m.add(i, j, c);
            }
        }
        m
    }

    pub fn get(&self, row: usize, column: usize) -> usize {
        if row < self.rows.len() && column < self.columns.len() {
            self.counts[row * self.columns.len() + column]
        } else {
            0
        }
    }

    /// Adds `n` to a cell; a cell outside the matrix is ignored.
    pub fn add(&mut self, row: usize, column: usize, n: usize) {
        if row < self.rows.len() && column < self.columns.len() {
            self.counts[row * self.columns.len() + column] += n;
        }
    }

    pub fn row_total(&self, row: usize) -> usize {
        (0..self.columns.len()).map(|j| self.get(row, j)).sum()
    }

    pub fn max(&self) -> usize {
        self.counts.iter().copied().max().unwrap_or(0)
    }
}

/// What a cell's colour says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shading {
    /// The cell's share of its row (a confusion matrix: where each gold class went). A row with
    /// no counts is grey, not "0%".
    RowShare,
    /// The square root of the cell's share of the largest cell, so that one busy cell does not
    /// wash out the rest.
    SqrtOfMax,
}

/// What a heat map's title and axes say, and how it is shaded.
#[derive(Debug, Clone, Copy)]
pub struct HeatmapStyle<'a> {
    pub title: &'a str,
    pub rows: &'a str,
    pub columns: &'a str,
    pub shading: Shading,
}

impl HeatmapStyle<'static> {
    pub const CONFUSION: HeatmapStyle<'static> = HeatmapStyle { title: "confusion matrix: share of each gold row", rows: "gold", columns: "predicted", shading: Shading::RowShare };
    pub const TRANSITIONS: HeatmapStyle<'static> = HeatmapStyle { title: "reclassification: share of each old department's rows", rows: "old", columns: "new", shading: Shading::RowShare };
}

/// Longest axis label in pixels; longer names are cut with an ellipsis.
const MAX_LABEL_PX: u32 = 200;
/// Past this many rows or columns, cells are too small for their counts.
pub const MAX_CELL_TEXT: usize = 40;
const COLOURBAR_W: i32 = 14;

/// Everything decided before a pixel is drawn, so the image size is known up front.
#[derive(Debug, Clone)]
pub struct HeatmapLayout {
    pub width: u32,
    pub height: u32,
    cell: u32,
    left: u32,
    top: u32,
    /// Text for the axes: label names or 1-based numbers; empty when there is no font.
    row_ticks: Vec<String>,
    column_ticks: Vec<String>,
    /// Widest column tick, in pixels: where the columns' title goes.
    column_extent: u32,
    pub names_on_axes: bool,
    pub fonts: Fonts,
}

impl HeatmapLayout {
    /// Whether the axes carry any text at all.
    pub fn has_ticks(&self) -> bool {
        !self.row_ticks.is_empty()
    }
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

/// Lays `matrix` out: square cells sized by its longer side, names on the axes where the fonts
/// can draw every one of them, 1-based numbers otherwise, no text without any font.
pub fn plan(matrix: &CountMatrix, fonts: Fonts) -> HeatmapLayout {
    let (r, c) = (matrix.rows.len(), matrix.columns.len());
    let cell = cell_size(r.max(c));
    let all: Vec<String> = matrix.rows.iter().chain(&matrix.columns).cloned().collect();
    let names_on_axes = fonts.can_draw_all(&all);
    let ticks = |labels: &[String]| -> (Vec<String>, u32) {
        if !fonts.any() {
            return (Vec::new(), 0);
        }
        let ticks: Vec<String> = if names_on_axes { labels.iter().map(|l| fit_label(&fonts, l)).collect() } else { (1..=labels.len()).map(|i| i.to_string()).collect() };
        let extent = ticks.iter().map(|t| fonts.width(TICK_FONT, t)).max().unwrap_or(0).min(MAX_LABEL_PX);
        (ticks, extent)
    };
    let (row_ticks, row_extent) = ticks(&matrix.rows);
    let (column_ticks, column_extent) = ticks(&matrix.columns);
    // Room for: the rotated rows title, row ticks and gaps; the colour bar and its labels on the
    // right; the title on top; column ticks and the columns title below.
    let left = 28 + row_extent + 8;
    let top = 40;
    let right = 16 + COLOURBAR_W as u32 + 6 + 44;
    let bottom = 8 + column_extent + 30;
    HeatmapLayout {
        width: (left + cell * c as u32 + right).max(360),
        height: top + (cell * r as u32).max(100) + bottom,
        cell,
        left,
        top,
        row_ticks,
        column_ticks,
        column_extent,
        names_on_axes,
        fonts,
    }
}

/// matplotlib's "Blues", three stops, for a share in [0, 1].
pub fn blues(share: f64) -> RGBColor {
    let stops = [(247.0, 251.0, 255.0), (107.0, 174.0, 214.0), (8.0, 48.0, 107.0)];
    let t = if share.is_finite() { share.clamp(0.0, 1.0) * 2.0 } else { 0.0 };
    let (a, b, f) = if t <= 1.0 { (stops[0], stops[1], t) } else { (stops[1], stops[2], t - 1.0) };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A cell's shade in [0, 1], or None for a row with nothing to share out.
fn shade(matrix: &CountMatrix, shading: Shading, i: usize, j: usize) -> Option<f64> {
    match shading {
        Shading::RowShare => {
            let total = matrix.row_total(i);
            (total > 0).then(|| matrix.get(i, j) as f64 / total as f64)
        }
        Shading::SqrtOfMax => Some((matrix.get(i, j) as f64 / matrix.max().max(1) as f64).sqrt()),
    }
}

/// Draws `matrix` to the PNG `path` as laid out by `layout`.
pub fn draw(matrix: &CountMatrix, style: &HeatmapStyle, layout: &HeatmapLayout, path: &Path) -> Result<(), ReportError> {
    let plot_err = |e: &dyn std::fmt::Display| ReportError::Plot { path: path.to_path_buf(), reason: e.to_string() };
    let root = BitMapBackend::new(path, (layout.width, layout.height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;

    let (r, c) = (matrix.rows.len(), matrix.columns.len());
    let (cell, left, top) = (layout.cell as i32, layout.left as i32, layout.top as i32);
    let (width, height) = (cell * c as i32, cell * r as i32);
    for i in 0..r {
        for j in 0..c {
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            let colour = shade(matrix, style.shading, i, j).map_or(RGBColor(225, 225, 225), blues);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour.filled())).map_err(|e| plot_err(&e))?;
        }
    }
    if cell >= 6 && r > 0 && c > 0 {
        let frame = RGBColor(200, 200, 200);
        root.draw(&Rectangle::new([(left, top), (left + width, top + height)], frame.stroke_width(1))).map_err(|e| plot_err(&e))?;
    }

    // Colour bar: 0 at the bottom, full at the top.
    let bar_x = left + width + 16;
    let bar_h = height.max(100);
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

    text(style.title, TITLE_FONT, &BLACK, Anchor::Start, (8, top / 2), true)?;
    for (i, t) in layout.row_ticks.iter().enumerate() {
        text(t, TICK_FONT, &BLACK, Anchor::End, (left - 6, top + i as i32 * cell + cell / 2), true)?;
    }
    for (j, t) in layout.column_ticks.iter().enumerate() {
        // Rotated so long names fit under narrow columns; they end at the matrix, as in matplotlib.
        text(t, TICK_FONT, &BLACK, Anchor::End, (left + j as i32 * cell + cell / 2, top + height + 6), false)?;
    }
    text(style.columns, TICK_FONT, &BLACK, Anchor::Centre, (left + width / 2, top + height + 8 + layout.column_extent as i32 + 14), true)?;
    text(style.rows, TICK_FONT, &BLACK, Anchor::Centre, (14, top + height / 2), false)?;
    let max = matrix.max();
    let bar_labels: [(f64, String); 3] = match style.shading {
        Shading::RowShare => [(1.0, "100%".into()), (0.5, "50%".into()), (0.0, "0%".into())],
        // Under the square root, half way up the bar is a quarter of the largest cell.
        Shading::SqrtOfMax => [(1.0, max.to_string()), (0.5, format!("{:.0}", max as f64 / 4.0)), (0.0, "0".into())],
    };
    for (share, label) in &bar_labels {
        let y = top + ((1.0 - share) * (bar_h - 1) as f64) as i32;
        text(label, TICK_FONT, &BLACK, Anchor::Start, (bar_x + COLOURBAR_W + 5, y), true)?;
    }

    if r.max(c) <= MAX_CELL_TEXT && cell >= 12 {
        let size = (cell as f64 * 0.38).clamp(7.0, 14.0);
        for i in 0..r {
            for j in 0..c {
                let colour = if shade(matrix, style.shading, i, j).unwrap_or(0.0) > 0.55 { WHITE } else { BLACK };
                let centre = (left + j as i32 * cell + cell / 2, top + i as i32 * cell + cell / 2);
                text(&matrix.get(i, j).to_string(), size, &colour, Anchor::Centre, centre, true)?;
            }
        }
    }
    root.present().map_err(|e| plot_err(&e))
}

/// [`plan`] with the fonts of this machine, then [`draw`]; returns the layout drawn.
pub fn write(matrix: &CountMatrix, style: &HeatmapStyle, path: &Path) -> Result<HeatmapLayout, ReportError> {
    let layout = plan(matrix, super::fonts::find_fonts());
    draw(matrix, style, &layout, path)?;
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width and height from a PNG's IHDR, after checking the signature.
    pub(crate) fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&b[12..16], b"IHDR");
        (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_square_matrix_ignores_what_lies_outside_its_labels() {
        let m = CountMatrix::square(&labels(&["a", "b"]), &[vec![3, 1, 9], vec![0], vec![7, 7]]);
        assert_eq!((m.get(0, 0), m.get(0, 1), m.get(1, 0), m.get(1, 1)), (3, 1, 0, 0));
        assert_eq!((m.row_total(0), m.max(), m.get(5, 5)), (4, 3, 0));
    }

    #[test]
    fn shading_by_row_greys_empty_rows_and_by_max_takes_the_root() {
        let mut m = CountMatrix::zeros(labels(&["a", "b"]), labels(&["x", "y", "z"]));
        m.add(0, 0, 1);
        m.add(0, 2, 3);
        assert_eq!(shade(&m, Shading::RowShare, 0, 2), Some(0.75));
        assert_eq!(shade(&m, Shading::RowShare, 1, 0), None);
        assert_eq!(shade(&m, Shading::SqrtOfMax, 0, 0), Some((1.0f64 / 3.0).sqrt()));
        assert_eq!(shade(&m, Shading::SqrtOfMax, 1, 1), Some(0.0));
    }

    #[test]
    fn a_rectangular_map_is_drawn_at_its_planned_size_with_or_without_fonts() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = CountMatrix::zeros(labels(&["噪音", "油烟", "供暖"]), labels(&["朝阳区", "海淀区", "其他", "东城区", "西城区"]));
        m.add(0, 0, 12);
        m.add(2, 4, 1);
        for fonts in [super::super::fonts::find_fonts(), Fonts::default()] {
            let layout = plan(&m, fonts);
            assert!(layout.width > layout.height, "five columns, three rows: {}x{}", layout.width, layout.height);
            let style = HeatmapStyle { title: "t", rows: "topic", columns: "district", shading: Shading::SqrtOfMax };
            let p = dir.path().join("m.png");
            draw(&m, &style, &layout, &p).unwrap();
            assert_eq!(png_size(&p), (layout.width, layout.height));
        }
        let bare = plan(&m, Fonts::default());
        assert!(!bare.names_on_axes && !bare.has_ticks());
    }

    #[test]
    fn an_empty_matrix_still_draws() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.png");
        let layout = write(&CountMatrix::zeros(Vec::new(), Vec::new()), &HeatmapStyle::CONFUSION, &p).unwrap();
        assert_eq!(png_size(&p), (layout.width, layout.height));
    }
}
