//! `triage feedback export|stats`: operators' decisions, offline.

use std::path::{Path, PathBuf};

use anyhow::Result;

use hotline_triage::config::Settings;

pub fn export(settings: &Settings, out: &Path, db: Option<PathBuf>, only_corrections: bool) -> Result<()> {
    let store = open_feedback(settings, db)?;
    let summary = hotline_triage::feedback::export::export_jsonl(&store, out, only_corrections)?;
    eprintln!("wrote {} decisions ({} corrections) to {}", summary.rows, summary.corrections, out.display());
    Ok(())
}

pub fn stats(settings: &Settings, db: Option<PathBuf>) -> Result<()> {
    let store = open_feedback(settings, db)?;
    println!("{}", serde_json::to_string_pretty(&store.stats(10)?)?);
    Ok(())
}

/// The feedback store for offline commands, on an existing database.
fn open_feedback(settings: &Settings, db: Option<PathBuf>) -> Result<hotline_triage::feedback::FeedbackStore> {
    let db = super::open_existing_database(settings, db.map(|d| d.display().to_string()))?;
    // Offline commands never search by embedding, so the encoder version does not matter.
    Ok(hotline_triage::feedback::FeedbackStore::open(db, "")?)
}
