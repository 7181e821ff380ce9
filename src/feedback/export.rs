//! Decisions as training rows: one JSON object per line with `text` and `label` (the chosen
//! department), which `triage train --text-fields text --label-field label` reads as it is.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{FeedbackError, FeedbackStore};

#[derive(Serialize)]
struct TrainingRow<'a> {
    id: &'a str,
    text: &'a str,
    label: &'a str,
    /// What the model said first, so a reader can pick out the corrections.
    suggested: Option<&'a str>,
    corrected: bool,
    operator_id: &'a str,
    decided_at: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub rows: usize,
    pub corrections: usize,
}

/// Write every decision (or, with `only_corrections`, those that overruled the model's first
/// suggestion). The file is written beside its target and renamed, so a reader never sees half.
pub fn export_jsonl(store: &FeedbackStore, out: &Path, only_corrections: bool) -> Result<ExportSummary, FeedbackError> {
    let io = |source| FeedbackError::Io { path: out.display().to_string(), source };
    let tmp = out.with_extension("jsonl.part");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    let mut summary = ExportSummary { rows: 0, corrections: 0 };
    for d in store.all()? {
        let corrected = d.suggested.first() != Some(&d.chosen);
        if only_corrections && !corrected {
            continue;
        }
        let row = TrainingRow {
            id: &d.case_id,
            text: &d.text,
            label: &d.chosen,
            suggested: d.suggested.first().map(String::as_str),
            corrected,
            operator_id: &d.operator_id,
            decided_at: &d.decided_at,
        };
        serde_json::to_writer(&mut w, &row).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
        summary.rows += 1;
        summary.corrections += corrected as usize;
    }
    w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    std::fs::rename(&tmp, out).map_err(io)?;
    Ok(summary)
}
