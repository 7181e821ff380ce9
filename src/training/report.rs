//! Turning an [`EvalReport`] into something a person reads: a terminal summary, and a Markdown
//! report with a PNG confusion-matrix heat map beside it (drawn by [`crate::chart::heatmap`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::metrics::EvalReport;
use crate::chart::fonts::Fonts;
use crate::chart::heatmap::{self, CountMatrix, HeatmapLayout, HeatmapStyle, MAX_CELL_TEXT};
use crate::chart::ReportError;

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
    let _ = writeln!(s, "{note}{}", if k > MAX_CELL_TEXT { " Cell counts are left out above 40 classes." } else { "" });
    if !extra_markdown.is_empty() {
        s.push('\n');
        s.push_str(extra_markdown);
        if !extra_markdown.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

fn confusion(report: &EvalReport) -> CountMatrix {
    CountMatrix::square(&report.labels, &report.confusion)
}

/// Writes `dir/confusion.png` and `dir/report.md` (creating `dir`); returns the path of report.md.
pub fn write_report(report: &EvalReport, dir: &Path, title: &str, extra_markdown: &str) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let layout = heatmap::write(&confusion(report), &HeatmapStyle::CONFUSION, &dir.join("confusion.png"))?;
    let md = dir.join("report.md");
    std::fs::write(&md, render_markdown(report, title, &layout, extra_markdown)).map_err(|source| ReportError::Io { path: md.clone(), source })?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::probability::ReviewPolicy;
    use crate::training::calibration::abstain_report;
    use crate::chart::fonts::find_fonts;
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

        let layout = heatmap::plan(&confusion(&r), find_fonts());
        let (w, h) = png_size(&out.join("confusion.png"));
        assert_eq!((w, h), (layout.width, layout.height));
        assert!(w >= 7 * 56 && h >= 7 * 56, "{w}x{h}");
        eprintln!("7-class heatmap {w}x{h}, fonts {:?}, names on axes: {}", layout.fonts, layout.names_on_axes);
    }

    #[test]
    fn heatmap_without_any_font_is_still_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let r = seven_class_report();
        let layout = heatmap::plan(&confusion(&r), Fonts::default());
        assert!(!layout.names_on_axes && !layout.has_ticks());
        let p = dir.path().join("plain.png");
        heatmap::draw(&confusion(&r), &HeatmapStyle::CONFUSION, &layout, &p).unwrap();
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
