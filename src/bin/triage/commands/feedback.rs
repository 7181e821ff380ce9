//! `triage feedback export|stats`: operators' decisions, offline.

use std::path::{Path, PathBuf};

use anyhow::Result;

use hotline_triage::config::Settings;

pub fn export(settings: &Settings, out: &Path, db: Option<PathBuf>, only_corrections: bool) -> Result<()> {
    let store = open_feedback(&db.map(|d| d.display().to_string()).unwrap_or_else(|| settings.server.database()))?;
    let summary = hotline_triage::feedback::export::export_jsonl(&store, out, only_corrections)?;
    eprintln!("wrote {} decisions ({} corrections) to {}", summary.rows, summary.corrections, out.display());
    Ok(())
}

pub fn stats(settings: &Settings, db: Option<PathBuf>) -> Result<()> {
    let store = open_feedback(&db.map(|d| d.display().to_string()).unwrap_or_else(|| settings.server.database()))?;
    println!("{}", serde_json::to_string_pretty(&store.stats(10)?)?);
    Ok(())
}

/// The feedback store for offline commands: it must exist already (a typo in the path should
/// not quietly create an empty database and export nothing).
fn open_feedback(target: &str) -> Result<hotline_triage::feedback::FeedbackStore> {
    if !hotline_triage::store::is_postgres_url(target) && !Path::new(target).is_file() {
        anyhow::bail!("{target}: no feedback database there (the server creates it on its first start)");
    }
    // Offline commands never search by embedding, so the encoder version does not matter.
    Ok(hotline_triage::feedback::FeedbackStore::open(hotline_triage::store::open(target)?, "")?)
}
