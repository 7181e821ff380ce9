//! The report of `triage hotspots`: Markdown with two charts, a topic x district heat map of
//! every case and the daily counts of the top hot spots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::hotspots::HotSpot;
use crate::chart::fonts::find_fonts;
use crate::chart::heatmap::{self, CountMatrix, HeatmapStyle, Shading};
use crate::chart::ReportError;

/// What the run read, for the report's first lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    pub input: String,
    pub rows: u64,
    pub cases: u64,
    /// Rows whose time could not be parsed: (row, id, reason), all of them counted, the first
    /// few shown.
    pub bad_times: Vec<(u64, Option<String>, String)>,
    /// Rows that could not be read at all.
    pub bad_rows: Vec<(u64, Option<String>, String)>,
    pub window: String,
    pub first: String,
    pub last: String,
}

/// Every case's topic name, district and day (unix days), for the charts.
pub struct Timeline {
    pub topic_district: Vec<(String, String)>,
    /// For each hot spot, by rank: the days of its cases over the whole input.
    pub hot_spot_days: Vec<Vec<i64>>,
    pub first_day: i64,
    pub last_day: i64,
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

pub(super) fn plot(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> ReportError + '_ {
    move |e| ReportError::Plot { path: path.to_path_buf(), reason: e.to_string() }
}

/// Writes `report.md`, `topic_district.png` and `trends.png` into `dir`.
pub fn write(dir: &Path, summary: &RunSummary, hot_spots: &[HotSpot], timeline: &Timeline, test: &str) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let axes = draw_topic_district(&timeline.topic_district, &dir.join("topic_district.png"))?;
    draw_trends(timeline, hot_spots, &dir.join("trends.png"))?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown(summary, hot_spots, test) + &axes).map_err(io(&md))?;
    Ok(md)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(summary: &RunSummary, hot_spots: &[HotSpot], test: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Hot spots in `{}`\n", summary.input);
    let _ = writeln!(
        s,
        "{} rows read, {} cases from {} to {}; window {}. {} rows had a time that could not be parsed and {} could not be read; they are listed below, not dropped silently.\n",
        summary.rows,
        summary.cases,
        summary.first,
        summary.last,
        summary.window,
        summary.bad_times.len(),
        summary.bad_rows.len()
    );
    let _ = writeln!(s, "Test: {test}\n");
    let _ = writeln!(s, "| # | hot spot | district | site | topic | cases in window | baseline | expected | growth | p-value | window |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for h in hot_spots {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1}x | {:.1e} | {} to {} |",
            h.rank,
            cell(&h.label),
            h.district.as_deref().unwrap_or("—"),
            h.site.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            cell(&h.topic),
            h.count,
            h.baseline,
            h.expected,
            h.growth,
            h.p_value,
            &h.window_start[..10],
            &h.window_end[..10]
        );
    }
    let _ = writeln!(s, "\n![topic x district](topic_district.png)\n\n![cases per week of the top hot spots](trends.png)\n");
    for h in hot_spots {
        let _ = writeln!(s, "## {}. {}\n", h.rank, cell(&h.label));
        let _ = writeln!(s, "Keywords: {}. {} cases between {} and {}, against {} in the baseline period.\n", h.keywords.join("、"), h.count, h.window_start, h.window_end, h.baseline);
        for e in &h.examples {
            let _ = writeln!(s, "- `{}` {}: {}", e.case_id, &e.at[..16.min(e.at.len())], cell(&e.excerpt));
        }
        s.push('\n');
    }
    if !summary.bad_times.is_empty() || !summary.bad_rows.is_empty() {
        let _ = writeln!(s, "## Rows left out\n");
        for (row, id, why) in summary.bad_times.iter().chain(&summary.bad_rows).take(50) {
            let _ = writeln!(s, "- row {row} ({}): {}", id.as_deref().unwrap_or("no id"), cell(why));
        }
        let more = (summary.bad_times.len() + summary.bad_rows.len()).saturating_sub(50);
        if more > 0 {
            let _ = writeln!(s, "- and {more} more (see the JSON output)");
        }
    }
    s
}

/// Counts of cases per topic (rows) and district (columns, the 15 busiest, then the rest).
/// Returns a Markdown key to the numbered axes when this machine has no font for the names.
fn draw_topic_district(pairs: &[(String, String)], path: &Path) -> Result<String, ReportError> {
    let mut by_district: BTreeMap<&str, usize> = BTreeMap::new();
    let mut topics: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, d) in pairs {
        *by_district.entry(d.as_str()).or_default() += 1;
        *topics.entry(t.as_str()).or_default() += 1;
    }
    let busiest_first = |m: BTreeMap<&str, usize>| {
        let mut v: Vec<(&str, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter().map(|(name, _)| name.to_string()).collect::<Vec<String>>()
    };
    let districts = busiest_first(by_district);
    let shown = districts.len().min(15);
    let mut columns = districts[..shown].to_vec();
    if districts.len() > shown {
        columns.push("其他".into());
    }
    let rows = busiest_first(topics);
    let mut matrix = CountMatrix::zeros(rows.clone(), columns.clone());
    for (t, d) in pairs {
        let i = rows.iter().position(|r| r == t).unwrap_or(0);
        // Districts past the 15 busiest go to the last column, 其他.
        let j = districts[..shown].iter().position(|x| x == d).unwrap_or(columns.len().saturating_sub(1));
        matrix.add(i, j, 1);
    }
    let style = HeatmapStyle { title: "cases by topic and district", rows: "topic", columns: "district", shading: Shading::SqrtOfMax };
    let layout = heatmap::write(&matrix, &style, path)?;
    if layout.names_on_axes || !layout.has_ticks() {
        return Ok(String::new());
    }
    let key = |names: &[String]| names.iter().enumerate().map(|(i, n)| format!("{} {}", i + 1, cell(n))).collect::<Vec<_>>().join(", ");
    Ok(format!("No CJK font was found, so the heat map's axes are numbered (set `TRIAGE_REPORT_FONT` to a CJK .ttf to get names). Topics: {}. Districts: {}.\n", key(&matrix.rows), key(&matrix.columns)))
}

pub(super) const PALETTE: [RGBColor; 6] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];

/// Weekly cases of the top six hot spots, over the span their cases cover (a few outliers
/// years away would squeeze everything else into one corner), legend by rank.
fn draw_trends(timeline: &Timeline, hot_spots: &[HotSpot], path: &Path) -> Result<(), ReportError> {
    let err = plot(path);
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let shown: Vec<&Vec<i64>> = timeline.hot_spot_days.iter().take(PALETTE.len()).collect();
    let all_days = shown.iter().flat_map(|d| d.iter().copied());
    let first = all_days.clone().min().unwrap_or(timeline.first_day) - 14;
    let last = all_days.max().unwrap_or(timeline.last_day).max(first + 28) + 14;
    let weeks = (last - first) / 7 + 1;
    let series: Vec<Vec<(i64, u32)>> = shown
        .iter()
        .map(|days| {
            let mut per_week = vec![0u32; weeks as usize];
            for d in days.iter().filter(|d| (first..=last).contains(*d)) {
                per_week[((d - first) / 7) as usize] += 1;
            }
            per_week.into_iter().enumerate().map(|(w, n)| (first + w as i64 * 7, n)).collect()
        })
        .collect();
    let (first, last) = (first, first + (weeks - 1) * 7);
    let top = series.iter().flatten().map(|p| p.1).max().unwrap_or(1).max(1);
    let fonts = find_fonts();
    let label_font = fonts.latin.as_ref().or(fonts.cjk.as_ref()).map(|f| f.family.clone());
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12).x_label_area_size(if label_font.is_some() { 36 } else { 0 }).y_label_area_size(if label_font.is_some() { 40 } else { 0 });
    if let Some(f) = &label_font {
        builder.caption("cases per week of the top hot spots (legend: rank in the report)", (FontFamily::Name(f.as_str()), 16));
    }
    let mut chart = builder.build_cartesian_2d(first..last, 0u32..top + 1).map_err(|e| err(&e))?;
    if let Some(f) = &label_font {
        chart
            .configure_mesh()
            .x_label_formatter(&|d| chrono::DateTime::from_timestamp(d * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default())
            .x_labels(8)
            .label_style((FontFamily::Name(f.as_str()), 12))
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (k, points) in series.into_iter().enumerate() {
        let colour = PALETTE[k];
        let drawn = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(|e| err(&e))?;
        let rank = hot_spots.get(k).map(|h| h.rank).unwrap_or(k + 1);
        drawn.label(format!("#{rank}")).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    if let Some(f) = &label_font {
        chart.configure_series_labels().label_font((FontFamily::Name(f.as_str()), 12)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
