//! One file per family of subcommands, plus the loading every command shares.

pub mod batch;
pub mod cases;
pub mod classify;
pub mod events;
pub mod feedback;
pub mod model;
pub mod serve;
pub mod train;

use std::time::Instant;

use anyhow::{Context, Result};

use hotline_triage::config::Settings;
use hotline_triage::model::Encoder;

pub fn load_encoder(settings: &Settings) -> Result<Encoder> {
    let started = Instant::now();
    let encoder = settings
        .model_folder()
        .and_then(|folder| Encoder::load(&folder, settings.encoder.clone()))
        .with_context(|| format!("cannot load the encoder from {}", settings.model_dir.display()))?;
    tracing::info!(kernels = %encoder.kernels(), "encoder {} loaded in {:.2}s", encoder.version(), started.elapsed().as_secs_f64());
    Ok(encoder)
}

pub fn load_dispatch(settings: &Settings) -> Result<hotline_triage::dispatch::DispatchModel> {
    let folder = settings.model_folder()?;
    let started = Instant::now();
    let model = hotline_triage::dispatch::DispatchModel::load(&folder, &settings.encoder, &settings.dispatch_paths())?.with_weights(settings.ranking);
    tracing::info!("dispatch model loaded in {:.2}s", started.elapsed().as_secs_f64());
    Ok(model)
}

/// The service's database for offline commands: `db`, else the configured one. It must exist
/// already: a typo in a path should not quietly create an empty database and report nothing.
pub fn open_existing_database(settings: &Settings, db: Option<String>) -> Result<std::sync::Arc<dyn hotline_triage::store::Database>> {
    let target = db.unwrap_or_else(|| settings.server.database());
    if !hotline_triage::store::is_postgres_url(&target) && !std::path::Path::new(&target).is_file() {
        anyhow::bail!("{target}: no feedback database there (server.feedback_db; the server creates it on its first start)");
    }
    Ok(hotline_triage::store::open(&target)?)
}

/// A time flag: RFC 3339, or a wall-clock time in the city's zone (`cases.time_offset`).
pub fn city_time(settings: &Settings, flag: &str, raw: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    hotline_triage::cases::time::parse_case_time(raw, offset).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}
