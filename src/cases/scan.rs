//! `triage hotspots`: replay a time-stamped file of cases through the same store the server
//! uses, in time order, then find each group's most surprising window.
//!
//! Replaying through [`CaseStore`] means the offline report and `GET /v1/hotspots` group
//! cases the same way: a case joins the group of its most similar related case before it.

use std::path::PathBuf;
use std::time::Instant;

use chrono::DateTime;
use serde::Serialize;

use super::hotspots::{describe, scan_timeline, HotSpot};
use super::report::{self, RunSummary, Timeline};
use super::store::{CaseStore, NewCase};
use super::time::rfc3339;
use super::time::{city_offset, parse_case_time};
use super::reader::{CaseReader, FieldSpec, InputFormat, ReadError};
use super::CaseSettings;
use crate::dispatch::DispatchModel;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Input(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] crate::feedback::FeedbackError),
    #[error(transparent)]
    Model(#[from] crate::dispatch::DispatchError),
    #[error(transparent)]
    Report(#[from] crate::chart::ReportError),
    #[error("{0}")]
    Settings(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub input: PathBuf,
    pub format: InputFormat,
    pub text_fields: Vec<String>,
    pub id_field: String,
    pub time_field: String,
    pub window: chrono::Duration,
    /// As written on the command line, for the report.
    pub window_label: String,
    pub top: usize,
    pub report: Option<PathBuf>,
    pub chunk_rows: usize,
    /// Keep the case store in this SQLite file. When it already holds cases, they are reused
    /// and nothing is classified again: another window or test costs seconds, not minutes.
    pub store: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    pub summary: RunSummary,
    pub test: String,
    pub hot_spots: Vec<HotSpot>,
    /// Cases in the store when the test ran (all of them: nothing expires in a replay).
    pub stored: usize,
    pub groups: usize,
    pub seconds: f64,
    pub report: Option<PathBuf>,
}

struct Timed {
    id: String,
    text: String,
    at: DateTime<chrono::Utc>,
}

/// Read every row; rows with no usable time or text are reported, never dropped silently.
fn read(opts: &ScanOptions, offset: chrono::FixedOffset, summary: &mut RunSummary) -> Result<Vec<Timed>, ScanError> {
    let spec = FieldSpec { text_fields: opts.text_fields.clone(), id_field: opts.id_field.clone(), compare_field: None, time_field: Some(opts.time_field.clone()) };
    let mut reader = CaseReader::open(&opts.input, opts.format, spec, None)?;
    let mut cases = Vec::new();
    while let Some(row) = reader.next_row()? {
        summary.rows += 1;
        match row.case {
            Err(reason) => summary.bad_rows.push((row.row, row.id, reason)),
            Ok(case) => {
                let parsed = match case.time.as_deref() {
                    None => Err(format!("no {:?} field", opts.time_field)),
                    Some(t) => parse_case_time(t, offset),
                };
                match parsed {
                    Ok(at) => cases.push(Timed { id: row.id.clone().unwrap_or_else(|| format!("row-{}", row.row)), text: case.text, at }),
                    Err(reason) => summary.bad_times.push((row.row, row.id, reason)),
                }
            }
        }
    }
    // Stable: cases at the same second keep file order.
    cases.sort_by_key(|c| c.at);
    Ok(cases)
}

pub fn run(model: &DispatchModel, settings: &CaseSettings, opts: &ScanOptions) -> Result<ScanResult, ScanError> {
    let started = Instant::now();
    let offset = city_offset(&settings.time_offset).map_err(ScanError::Settings)?;
    let mut summary = RunSummary { input: opts.input.display().to_string(), window: opts.window_label.clone(), ..RunSummary::default() };
    let cases = read(opts, offset, &mut summary)?;
    summary.cases = cases.len() as u64;
    summary.first = cases.first().map(|c| rfc3339(c.at.timestamp())).unwrap_or_default();
    summary.last = cases.last().map(|c| rfc3339(c.at.timestamp())).unwrap_or_default();

    let dir = tempfile::tempdir().map_err(|source| ScanError::Io { path: std::env::temp_dir(), source })?;
    let path = opts.store.clone().unwrap_or_else(|| dir.path().join("cases.sqlite3"));
    // History is the point here: nothing expires while the file is replayed (the store's clock
    // is its newest case, so the server's 90-day retention would delete most of a year).
    let replay = CaseSettings { retention_days: 36_500, ..settings.clone() };
    let store = CaseStore::open(crate::store::open_sqlite(&path)?, model.encoder().version(), model.encoder().dimension(), replay)?;
    if store.is_empty()? {
        let progress = crate::progress::Progress::new(cases.len() as u64, "cases");
        for chunk in cases.chunks(opts.chunk_rows.max(1)) {
            let texts: Vec<&str> = chunk.iter().map(|c| c.text.as_str()).collect();
            for (c, e) in chunk.iter().zip(model.classify_batch_embedded(&texts, 1)?) {
                store.observe(&NewCase::from_suggestion(&c.id, c.at, &e))?;
            }
            progress.inc(chunk.len() as u64);
        }
        progress.finish();
    } else {
        tracing::info!("reusing the cases already in {}", path.display());
    }

    let window = opts.window.num_seconds();
    let h = &settings.hotspots;
    let test = format!(
        "one-sided exact Poisson test of each group's count in a {} window against its own rate over the {} days before the window (expected count at least {}); p <= {}, at least {} cases; groups are cases joined by cosine >= {:.3} within {} days, same topic: {}, no conflicting place: {}.",
        opts.window_label, h.baseline_days, h.expected_floor, h.alpha, h.min_count, settings.related_threshold, settings.related_days, settings.same_topic, settings.same_place
    );
    let timeline = store.timeline()?;
    let groups = timeline.iter().map(|t| t.0).collect::<std::collections::HashSet<_>>().len();
    let bursts = scan_timeline(&timeline.iter().map(|t| (t.0, t.1)).collect::<Vec<_>>(), window, h);
    let topic_name = |id: &str| model.taxonomy.topic(id).map(|t| t.name.clone()).unwrap_or_else(|| id.to_string());
    let hot_spots = describe(&store, &bursts, opts.top, topic_name)?;

    let report = match &opts.report {
        None => None,
        Some(dir) => {
            let day = |at: i64| at.div_euclid(86_400);
            let mut hot_spot_days = Vec::new();
            for h in &hot_spots {
                hot_spot_days.push(store.members(h.group, i64::MIN, i64::MAX)?.iter().map(|m| day(m.at)).collect());
            }
            let chart = Timeline {
                topic_district: timeline.iter().map(|t| (topic_name(&t.2), t.3.clone().unwrap_or_else(|| "未知".into()))).collect(),
                hot_spot_days,
                first_day: timeline.first().map(|t| day(t.1)).unwrap_or(0),
                last_day: timeline.last().map(|t| day(t.1)).unwrap_or(0),
            };
            Some(report::write(dir, &summary, &hot_spots, &chart, &test)?)
        }
    };
    Ok(ScanResult { summary, test, hot_spots, stored: timeline.len(), groups, seconds: started.elapsed().as_secs_f64(), report })
}
