//! `triage cases import`: the steps of cases from another ticket system's export (JSON lines or
//! CSV with a header), recorded as `/v1/cases/{id}/events` records them.
//!
//! A rerun is safe and resumes: each step carries its `event_id`, and a step recorded before is
//! a repeat, not counted twice. Every row that cannot be recorded (unreadable, unknown case,
//! out of order, bad field) goes to the errors file with its line and code; the others still
//! are recorded.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::record::CaseEvent;
use super::store::{CaseEventError, CaseStore, Recorded};
use super::time::parse_case_time;

/// One row of an export: the case and one step of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedStep {
    case_id: String,
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    rating: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub recorded: u64,
    /// Steps recorded before (a rerun): not counted twice.
    pub repeats: u64,
    /// Rows written to the errors file.
    pub errors: u64,
}

#[derive(Debug, Serialize)]
struct ImportError<'a> {
    line: u64,
    case_id: Option<&'a str>,
    event_id: Option<&'a str>,
    code: &'a str,
    message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Csv { path: String, reason: String },
    /// The database failed: stop, and rerun once it is back (nothing is counted twice).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Record every step of `input` (JSON lines, or CSV when it ends in .csv) in `store`; bad rows
/// go to `errors` as JSON lines.
pub fn import(store: &CaseStore, input: &Path, errors: &Path, offset: chrono::FixedOffset, is_department: impl Fn(&str) -> bool) -> Result<ImportSummary, ImportFailure> {
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> ImportFailure + '_ {
        move |source| ImportFailure::Io { path: p.display().to_string(), source }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(errors).map_err(io(errors))?);
    let mut summary = ImportSummary::default();
    // Row by row: an export of years of cases need not fit in memory.
    let rows: Box<dyn Iterator<Item = (u64, Result<ExportedStep, String>)>> = if input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let csv_err = |e: csv::Error| ImportFailure::Csv { path: input.display().to_string(), reason: e.to_string() };
        let mut reader = csv::Reader::from_path(input).map_err(csv_err)?;
        let headers = reader.headers().map_err(csv_err)?.clone();
        Box::new(reader.into_records().map(move |r| match r {
            Ok(rec) => (rec.position().map_or(0, |p| p.line()), rec.deserialize(Some(&headers)).map_err(|e| e.to_string())),
            Err(e) => (e.position().map_or(0, |p| p.line()), Err(e.to_string())),
        }))
    } else {
        let file = std::fs::File::open(input).map_err(io(input))?;
        Box::new(
            BufReader::new(file)
                .lines()
                .enumerate()
                .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                .map(|(i, l)| (i as u64 + 1, l.map_err(|e| e.to_string()).and_then(|l| serde_json::from_str(&l).map_err(|e| e.to_string())))),
        )
    };
    for (line, row) in rows {
        summary.rows += 1;
        let mut fail = |case_id: Option<&str>, event_id: Option<&str>, code: &str, message: String| -> Result<(), ImportFailure> {
            let e = ImportError { line, case_id, event_id, code, message };
            writeln!(out, "{}", serde_json::to_string(&e).unwrap_or_default()).map_err(io(errors))
        };
        let step = match row {
            Ok(s) => s,
            Err(message) => {
                summary.errors += 1;
                fail(None, None, "unreadable_row", message)?;
                continue;
            }
        };
        let at = match blank_to_none(step.at.clone()).map(|t| parse_case_time(&t, offset)) {
            None => chrono::Utc::now(),
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                summary.errors += 1;
                fail(Some(&step.case_id), Some(&step.event_id), "invalid_time", e)?;
                continue;
            }
        };
        let event = CaseEvent {
            event_id: step.event_id.clone(),
            kind: step.kind.clone(),
            department: blank_to_none(step.department.clone()),
            operator_id: blank_to_none(step.operator_id.clone()),
            reason: blank_to_none(step.reason.clone()),
            rating: blank_to_none(step.rating.clone()),
            at: None,
        };
        match store.record_event(&step.case_id, &event, at.timestamp(), &is_department) {
            Ok(Recorded::New(_)) => summary.recorded += 1,
            Ok(Recorded::Repeat) => summary.repeats += 1,
            Err(CaseEventError::Store(e)) => return Err(e.into()),
            Err(e) => {
                summary.errors += 1;
                let code = match &e {
                    CaseEventError::UnknownCase(_) => "unknown_case",
                    CaseEventError::Invalid(i) => i.code,
                    CaseEventError::Conflict(_) => "event_id_conflict",
                    CaseEventError::Store(_) => "store",
                };
                fail(Some(&step.case_id), Some(&step.event_id), code, e.to_string())?;
            }
        }
    }
    out.flush().map_err(io(errors))?;
    Ok(summary)
}
