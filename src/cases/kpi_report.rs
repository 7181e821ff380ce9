//! The report of `triage kpis`: Markdown tables of the rates (overall, per department, per
//! week), the drift alarms, and a chart of the weekly rates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::kpis::{KpiReport, Rates};
use super::report::{io, plot, PALETTE};
use crate::chart::fonts::find_fonts;
use crate::chart::ReportError;

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "–".into())
}

fn hours(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into())
}

fn row(key: &str, r: &Rates) -> String {
    format!(
        "| {key} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.cases,
        r.dispatched,
        pct(r.first_dispatch_accuracy),
        pct(r.top3_agreement),
        pct(r.return_rate),
        pct(r.redispatch_rate),
        pct(r.response_rate),
        pct(r.resolution_rate),
        pct(r.satisfaction_rate),
        hours(r.median_hours_to_response),
        hours(r.median_hours_to_resolution)
    )
}

const HEADER: &str = "| | cases | dispatched | first dispatch right | top 3 | returned | redispatched | responded | resolved | satisfied | hours to response | hours to resolution |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

/// Write `kpis.md` and `kpis_weekly.png` into `dir`; `name` turns a department id into its name.
pub fn write(dir: &Path, report: &KpiReport, name: impl Fn(&str) -> String) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let chart = dir.join("kpis_weekly.png");
    draw_weekly(report, &chart)?;
    let mut md = String::new();
    let _ = writeln!(md, "# Dispatch rates, {} to {}\n", report.from, report.to);
    let _ = writeln!(md, "Cases that came in during the period, with the steps the call centre reported for them (`/v1/cases/{{id}}/events`).\n");
    let _ = writeln!(md, "{HEADER}\n{}\n", row("all cases", &report.overall));
    let _ = writeln!(md, "## Drift: the last 7 days against the previous 28\n");
    if report.drift.is_empty() {
        let _ = writeln!(md, "No department's first-dispatch accuracy or return rate moved significantly (exact binomial test, p < 0.01, at least 10 recent and 20 earlier cases).\n");
    } else {
        let _ = writeln!(md, "| department | rate | last 7 days | previous 28 days | p | direction |\n|---|---|---|---|---|---|");
        for a in &report.drift {
            let _ = writeln!(
                md,
                "| {} | {} | {} of {} | {} of {} | {:.2e} | {} |",
                name(&a.department),
                a.metric.replace('_', " "),
                pct(Some(a.recent)),
                a.recent_cases,
                pct(Some(a.baseline)),
                a.baseline_cases,
                a.p_value,
                a.direction
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "## Per week (from Monday, city time)\n\n![weekly rates](kpis_weekly.png)\n\n{HEADER}");
    for g in &report.by_week {
        let _ = writeln!(md, "{}", row(&g.key, &g.rates));
    }
    let _ = writeln!(md, "\n## Per final department\n\n{HEADER}");
    let mut departments = report.by_department.clone();
    departments.sort_by(|a, b| b.rates.cases.cmp(&a.rates.cases).then_with(|| a.key.cmp(&b.key)));
    for g in &departments {
        let _ = writeln!(md, "{}", row(&name(&g.key), &g.rates));
    }
    let _ = writeln!(md, "\n## Per topic\n\n{HEADER}");
    for g in &report.by_topic {
        let _ = writeln!(md, "{}", row(&g.key, &g.rates));
    }
    let path = dir.join("kpis.md");
    std::fs::write(&path, md).map_err(io(&path))?;
    Ok(path)
}

/// The weekly rates as lines, 0 to 100%.
fn draw_weekly(report: &KpiReport, path: &Path) -> Result<(), ReportError> {
    let err = plot(path);
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let weeks: Vec<&str> = report.by_week.iter().map(|g| g.key.as_str()).collect();
    let lines: [(&str, fn(&Rates) -> Option<f64>); 5] = [
        ("first dispatch right", |r| r.first_dispatch_accuracy),
        ("in top 3", |r| r.top3_agreement),
        ("returned", |r| r.return_rate),
        ("resolved", |r| r.resolution_rate),
        ("satisfied", |r| r.satisfaction_rate),
    ];
    let fonts = find_fonts();
    let label_font = fonts.latin.as_ref().or(fonts.cjk.as_ref()).map(|f| f.family.clone());
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12).x_label_area_size(if label_font.is_some() { 36 } else { 0 }).y_label_area_size(if label_font.is_some() { 44 } else { 0 });
    if let Some(f) = &label_font {
        builder.caption("weekly rates of the cases that came in each week", (FontFamily::Name(f.as_str()), 16));
    }
    let n = weeks.len().max(2);
    let mut chart = builder.build_cartesian_2d(0..n - 1, 0f64..1.0).map_err(|e| err(&e))?;
    if let Some(f) = &label_font {
        chart
            .configure_mesh()
            .x_labels(n.min(10))
            .x_label_formatter(&|i| weeks.get(*i).map(|w| w.to_string()).unwrap_or_default())
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FontFamily::Name(f.as_str()), 12))
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (k, (label, rate)) in lines.iter().enumerate() {
        let colour = PALETTE[k];
        let points: Vec<(usize, f64)> = report.by_week.iter().enumerate().filter_map(|(i, g)| Some((i, rate(&g.rates)?))).collect();
        let drawn = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(|e| err(&e))?;
        drawn.label(*label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    if let Some(f) = &label_font {
        chart.configure_series_labels().label_font((FontFamily::Name(f.as_str()), 12)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
