//! Charts for the reports of `triage eval`, `triage batch` and `triage hotspots`.
//!
//! - [`fonts`]: fonts found at run time (CJK and Latin), and text drawn run by run with them;
//! - [`heatmap`]: the one heat-map drawer, over a [`heatmap::CountMatrix`].

pub mod fonts;
pub mod heatmap;

use std::path::PathBuf;

/// Writing a report's files failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: drawing a chart failed: {reason}")]
    Plot { path: PathBuf, reason: String },
}
